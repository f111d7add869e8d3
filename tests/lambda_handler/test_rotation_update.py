"""A deploy after `mobile-sso rotate-certificate` keeps the rotated certificate: the real
handler's Update against the emulator, after the rotation's own Graph calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mobile_sso.entra_graph import (
    HttpGraphWriter,
)
from tests.emulators import EntraEmulator
from tests.graph_clients import deployer_writer
from tests.lambda_handler.conftest import Event, Provider, Response

SUBJECT = "CN=Microsoft Azure Federated SSO Certificate"


@pytest.fixture
def writer(emulator: EntraEmulator) -> Iterator[HttpGraphWriter]:
    with deployer_writer(emulator) as graph:
        yield graph


def rotate(emulator: EntraEmulator, writer: HttpGraphWriter, *, retire: bool) -> str:
    (sp,) = emulator.service_principals()
    new = writer.add_signing_certificate(sp["id"], SUBJECT, datetime.now(UTC) + timedelta(days=900))
    writer.activate_signing_certificate(sp["id"], new)
    if retire:
        state = writer.signing_certificates(sp["appId"])
        assert state is not None
        old = frozenset(c.thumbprint for c in state.certificates if c.thumbprint != new)
        writer.remove_signing_certificates(state, old)
    return new


def certificate_writes(emulator: EntraEmulator) -> list[str]:
    adds = [r.path for r in emulator.requests() if r.path.endswith("addTokenSigningCertificate")]
    activations = [
        r.path
        for r in emulator.requests()
        if r.method == "PATCH"
        and isinstance(r.json, dict)
        and "preferredTokenSigningKeyThumbprint" in r.json
    ]
    return adds + activations


@pytest.mark.parametrize("retire", [False, True], ids=["old-still-listed", "old-retired"])
def test_update_after_a_rotation_keeps_the_new_certificate_active(
    emulator: EntraEmulator,
    provider: Provider,
    deployed: tuple[Event, Response],
    writer: HttpGraphWriter,
    retire: bool,
) -> None:
    new = rotate(emulator, writer, retire=retire)
    emulator.clear_requests()
    event, response = deployed

    answer = provider.deploy(
        provider.update_event(event, response["PhysicalResourceId"], DisplayName="Renamed")
    )

    (sp,) = emulator.service_principals()
    assert sp["preferredTokenSigningKeyThumbprint"] == new
    assert certificate_writes(emulator) == []
    assert answer["Data"]["SigningCertificateThumbprint"] == new
