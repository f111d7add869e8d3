"""Fixtures for the emulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators import EntraEmulator


@pytest.fixture
def emulator() -> Iterator[EntraEmulator]:
    with EntraEmulator() as running:
        yield running
