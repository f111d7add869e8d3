"""A resource deployed with a credentials secret moves to federated credentials in place:
the Update signs in with the new properties and never reads the old secret."""

from __future__ import annotations

import pytest
from entra_saml_app import handler

from tests.emulators import EntraEmulator, StsEmulator
from tests.lambda_handler.conftest import Event, Provider, Response
from tests.lambda_handler.test_federation import AUDIENCE, sts

__all__ = ["sts"]  # the fixture, shared with the federation tests


def test_update_from_a_secret_to_federation_keeps_the_application(
    emulator: EntraEmulator,
    sts: StsEmulator,
    provider: Provider,
    deployed: tuple[Event, Response],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event, created = deployed
    physical_id = created["PhysicalResourceId"]
    emulator.add_federated_credential(issuer=sts.issuer, subject=sts.role_arn)
    update = provider.update_event(
        event, physical_id, FederatedClientId=emulator.client_id, FederationAudience=AUDIENCE
    )
    del update["ResourceProperties"]["CredentialsSecretArn"]
    reads: list[str] = []
    monkeypatch.setattr(handler, "read_credentials", reads.append)

    answer = provider.deploy(update)

    assert answer["PhysicalResourceId"] == physical_id
    assert [app["id"] for app in emulator.applications()] == [physical_id]
    assert reads == []
    assert sts.calls()
