"""Waiting in tests for something another thread or process does: poll with a deadline,
never a fixed sleep (too short on a loaded machine, wasted time on an idle one)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object], what: str, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Return as soon as `condition()` is true; fail the test naming `what` if it is still
    false after `timeout` seconds. The timeout is a hang guard, not a speed claim."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"still waiting after {timeout:g} s for {what}")
        time.sleep(interval)
