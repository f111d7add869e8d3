"""Zero portal steps and no stored secret, end to end: `mobile-sso bootstrap-entra` makes
the deployer app registration with a federated credential for the handler role the stack
names; the real handler then signs in with an (emulated) AWS STS token and creates the
SAML application. Nothing is read from Secrets Manager and nothing is typed into a portal.
The doctor's federation check reads the same credential as matching the stack's role."""

from __future__ import annotations

import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from entra_saml_app import handler
from typer.testing import CliRunner

from mobile_sso import outputs
from mobile_sso.cli import app
from mobile_sso.config import load_config, parse_config
from mobile_sso.doctor_checks import _check_federated_credential, _Run
from mobile_sso.entra_graph import CredentialSource, DeployerSecret, Endpoints, open_reader
from tests.conftest import example_data
from tests.emulators import EntraEmulator, StsEmulator
from tests.lambda_handler.conftest import REGION, Provider

EXAMPLE = load_config("example")


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch, emulator: EntraEmulator) -> Iterator[StsEmulator]:
    """STS whose caller is the handler role the example stack names for federation, served
    over https (Entra and bootstrap-entra accept only https issuers) with the emulator's CA."""
    role = outputs.handler_role_name(EXAMPLE.stack_name)
    account = str(EXAMPLE.account)
    tls = emulator.server_tls
    with StsEmulator(account_id=account, role_name=role, region=REGION, tls=tls) as running:
        monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_bundle))
        monkeypatch.setenv("AWS_CA_BUNDLE", str(emulator.ca_bundle))
        for name, value in running.lambda_environment().items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def federated_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: EntraEmulator
) -> Path:
    """The example environment with its tenant on federation (client id not known yet),
    and an admin signed in: an `az` on PATH answering `az account get-access-token`."""
    data = example_data()
    tenant = data["entra"][0]
    del tenant["credentials_secret"]
    tenant.update(tenant_id=emulator.tenant_id, federation={})
    path = tmp_path / "federated.yaml"
    path.write_text(yaml.safe_dump(data))
    token = emulator.issue_admin_token()
    answer = json.dumps({"accessToken": token, "expires_on": 4102444800, "tokenType": "Bearer"})
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{answer}\nEOF\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    return path


@pytest.fixture(autouse=True)
def no_secret_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(secret_arn: str) -> Any:
        raise AssertionError(f"the federated handler read the secret {secret_arn}")

    monkeypatch.setattr(handler, "read_credentials", forbidden)


def test_bootstrap_then_federated_create_completes_without_any_secret(
    federated_config: Path,
    emulator: EntraEmulator,
    sts: StsEmulator,
    provider: Provider,
    seeded: set[str],
) -> None:
    command = ["bootstrap-entra", "--env", "example", "--config", str(federated_config)]
    bootstrapped = CliRunner().invoke(app, [*command, "--issuer", sts.issuer, "--yes"])
    assert bootstrapped.exit_code == 0, bootstrapped.output
    (deployer,) = [a for a in emulator.applications() if a.get("uniqueName")]
    seeded.add(deployer["id"])  # the deployer registration is not the stack's to own
    emulator.serve_deployer(deployer["appId"])
    event = provider.create_event()
    del event["ResourceProperties"]["CredentialsSecretArn"]
    event["ResourceProperties"]["FederatedClientId"] = deployer["appId"]

    answer = provider.deploy(event)

    (saml_app,) = [a for a in emulator.applications() if not a.get("uniqueName")]
    assert answer["PhysicalResourceId"] == saml_app["id"]
    assert sts.calls()


def test_doctor_finds_the_credential_bootstrap_made_for_the_stacks_role(
    federated_config: Path, emulator: EntraEmulator, sts: StsEmulator
) -> None:
    command = ["bootstrap-entra", "--env", "example", "--config", str(federated_config)]
    bootstrapped = CliRunner().invoke(app, [*command, "--issuer", sts.issuer, "--yes"])
    assert bootstrapped.exit_code == 0, bootstrapped.output
    (deployer,) = [a for a in emulator.applications() if a.get("uniqueName")]
    data = yaml.safe_load(federated_config.read_text())
    data["entra"][0]["federation"]["client_id"] = deployer["appId"]
    config = parse_config(data, "federated.yaml")
    run = _Run("example", config, {}, None, None, None, dt.datetime.now(dt.UTC))  # type: ignore[arg-type]
    run.token_issuer = sts.issuer
    endpoints = Endpoints.for_cloud("global")

    with open_reader(CredentialSource.CLI, endpoints, emulator.tenant_id, _no_secret) as reader:
        _check_federated_credential(run, config.entra[0], reader)

    assert run.findings == []
    assert run.notes == []


def _no_secret() -> DeployerSecret:
    raise AssertionError("a federated tenant has no deployer secret to read")
