"""The commands' own Graph clients, pointed at an EntraEmulator and signed in as its built-in
deployer app registration: for tests that arrange or inspect Entra through the code the
commands use."""

from __future__ import annotations

from contextlib import AbstractContextManager

from mobile_sso.entra_graph import (
    CredentialSource,
    DeployerSecret,
    Endpoints,
    HttpGraphReader,
    HttpGraphWriter,
    open_reader,
    open_writer,
)
from tests.emulators import EntraEmulator


def emulator_endpoints(entra: EntraEmulator) -> Endpoints:
    return Endpoints.for_cloud(
        "global",
        env={
            "ENTRA_GRAPH_ENDPOINT": entra.graph_base_url,
            "ENTRA_LOGIN_AUTHORITY": entra.authority_url,
            "REQUESTS_CA_BUNDLE": str(entra.ca_bundle),
        },
    )


def deployer_secret(entra: EntraEmulator) -> DeployerSecret:
    """What the deployer secret holds for the emulator's deployer app registration."""
    return DeployerSecret(entra.tenant_id, entra.client_id, entra.client_secret)


def deployer_reader(entra: EntraEmulator) -> AbstractContextManager[HttpGraphReader]:
    return open_reader(
        CredentialSource.SECRET,
        emulator_endpoints(entra),
        entra.tenant_id,
        lambda: deployer_secret(entra),
    )


def deployer_writer(entra: EntraEmulator) -> AbstractContextManager[HttpGraphWriter]:
    return open_writer(
        CredentialSource.SECRET,
        emulator_endpoints(entra),
        entra.tenant_id,
        lambda: deployer_secret(entra),
    )
