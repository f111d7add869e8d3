"""`mobile-sso doctor` and a tenant with federated credentials.

There is no deployer secret to sign in with, so the doctor says which credential source to
use instead. Reading Entra as an admin, it checks what the handler's sign-in depends on:
the AWS account vends web identity tokens (outbound identity federation), and the deployer
app registration has a federated credential for the account's issuer, the stack's handler
role and the configured audience, matched in Entra's order (issuer, subject, audience).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from typer.testing import CliRunner

from mobile_sso import outputs as keys
from mobile_sso.cli import app
from mobile_sso.cli_common import entra_credential_source
from mobile_sso.config import EntraTenant, EnvironmentConfig, parse_config
from mobile_sso.doctor import _entra_opener
from mobile_sso.doctor_checks import Diagnosis
from mobile_sso.entra_graph import (
    CredentialSource,
    EntraReadError,
    GraphReader,
)
from tests.conftest import example_data
from tests.doctor_deployment import Deployment, diagnose_directly
from tests.graph_clients import deployer_reader

ISSUER = "https://4f1c7a2e-0b9d-4e51-9a38-6d2f0c8e5b17.tokens.sts.global.api.aws"
AUDIENCE = "api://AzureADTokenExchange"
ROLE_ARN = keys.handler_role_arn("123456789012", "eu-west-1", "MobileSso-Example")
runner = CliRunner()


class FakeIam:
    """iam:GetOutboundWebIdentityFederationInfo as the account answers it (moto lacks it)."""

    def __init__(self, answer: Mapping[str, Any] | ClientError) -> None:
        self.answer = answer
        self.calls = 0

    def get_outbound_web_identity_federation_info(self) -> Mapping[str, Any]:
        self.calls += 1
        if isinstance(self.answer, ClientError):
            raise self.answer
        return self.answer


ENABLED = FakeIam({"IssuerIdentifier": ISSUER, "JwtVendingEnabled": True})


def iam_error(code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} message"}},
        "GetOutboundWebIdentityFederationInfo",
    )


def federated_config(client_id: str, audience: str = AUDIENCE) -> EnvironmentConfig:
    data = example_data()
    del data["entra"][0]["credentials_secret"]
    data["entra"][0]["federation"] = {"client_id": client_id, "audience": audience}
    return parse_config(data, "federated.yaml")


@pytest.fixture
def registration(deployment: Deployment) -> dict[str, Any]:
    """The deployer app registration, as bootstrap-entra leaves it: no credential yet."""
    made: dict[str, Any] = deployment.graph("POST", "/applications", {"displayName": "deployer"})
    return made


def trust(
    deployment: Deployment,
    registration: dict[str, Any],
    *,
    issuer: str = ISSUER,
    subject: str = ROLE_ARN,
    audience: str = AUDIENCE,
) -> None:
    deployment.graph(
        "POST",
        f"/applications/{registration['id']}/federatedIdentityCredentials",
        {
            "name": "aws-entra-handler",
            "issuer": issuer,
            "subject": subject,
            "audiences": [audience],
        },
    )


def admin_reader(deployment: Deployment) -> Any:
    """Opens a Graph reader for a tenant with the emulator's credentials (an admin's)."""
    entra = deployment.entra

    @contextmanager
    def open_tenant(tenant: EntraTenant) -> Iterator[GraphReader]:
        assert tenant.tenant_id == entra.tenant_id
        with deployer_reader(entra) as reader:
            yield reader

    return open_tenant


def run_doctor(
    deployment: Deployment,
    config: EnvironmentConfig,
    iam: FakeIam | None = ENABLED,
) -> Diagnosis:
    deployment.outputs[keys.ENTRA_HANDLER_ROLE_ARN] = ROLE_ARN
    return diagnose_directly(deployment, config, entra=admin_reader(deployment), iam=iam)


def federation_findings(diagnosis: Diagnosis) -> list[tuple[str, str, str]]:
    return [
        (f.severity, f.message, f.user_error)
        for f in diagnosis.findings
        if f.category == "federation"
    ]


# --- no secret to read -------------------------------------------------------------------


def test_secret_source_for_a_federated_tenant_points_to_the_cli_source() -> None:
    config = federated_config("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e")
    open_tenant = _entra_opener(config, CredentialSource.SECRET)

    with pytest.raises(EntraReadError) as caught, open_tenant(config.entra[0]):
        pass

    assert "uses federated credentials" in str(caught.value)
    assert "--entra-credentials cli" in caught.value.fix


def test_default_source_is_the_az_login_for_a_federated_tenant() -> None:
    tenant = federated_config("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e").entra[0]

    assert entra_credential_source(None, tenant) is CredentialSource.CLI


def test_default_source_is_the_deployer_secret_for_a_tenant_with_one() -> None:
    tenant = parse_config(example_data(), "example.yaml").entra[0]

    assert entra_credential_source(None, tenant) is CredentialSource.SECRET


def test_a_chosen_source_applies_to_every_tenant() -> None:
    tenant = federated_config("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e").entra[0]

    assert entra_credential_source(CredentialSource.DEFAULT, tenant) is CredentialSource.DEFAULT


def test_doctor_without_a_choice_opens_a_federated_tenant_with_the_cli_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = federated_config("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e")
    opened: list[CredentialSource] = []

    @contextmanager
    def fake_open_reader(source: CredentialSource, *_: Any) -> Iterator[None]:
        opened.append(source)
        yield None

    monkeypatch.setattr("mobile_sso.doctor.open_reader", fake_open_reader)

    with _entra_opener(config, None)(config.entra[0]):
        pass

    assert opened == [CredentialSource.CLI]


# --- the deployer's federated credential -------------------------------------------------


def test_credential_for_the_accounts_issuer_role_and_audience_passes(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    trust(deployment, registration)

    diagnosis = run_doctor(deployment, federated_config(registration["appId"]))

    assert federation_findings(diagnosis) == []
    assert diagnosis.healthy


def test_missing_deployer_registration_is_an_error_entra_calls_aadsts700016(
    deployment: Deployment,
) -> None:
    absent = "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"

    [(severity, message, user_error)] = federation_findings(
        run_doctor(deployment, federated_config(absent))
    )

    assert severity == "error"
    assert f"no app registration {absent}" in message
    assert "AADSTS700016" in user_error


def test_credential_for_another_issuer_is_an_error_entra_calls_aadsts700211(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    other = "https://0000aaaa-0b9d-4e51-9a38-6d2f0c8e5b17.tokens.sts.global.api.aws"
    trust(deployment, registration, issuer=other)

    [(severity, message, user_error)] = federation_findings(
        run_doctor(deployment, federated_config(registration["appId"]))
    )

    assert severity == "error"
    assert ISSUER in message
    assert f"they trust: {other}" in message
    assert "AADSTS700211" in user_error


def test_credential_for_another_role_is_an_error_entra_calls_aadsts700213(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    other = "arn:aws:iam::123456789012:role/someone-else"
    trust(deployment, registration, subject=other)

    [(severity, message, user_error)] = federation_findings(
        run_doctor(deployment, federated_config(registration["appId"]))
    )

    assert severity == "error"
    assert f"trusts the handler role {ROLE_ARN}" in message
    assert f"they trust: {other}" in message
    assert "AADSTS700213" in user_error


def test_credential_for_another_audience_is_an_error_entra_calls_aadsts700212(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    trust(deployment, registration, audience="api://other")

    [(severity, message, user_error)] = federation_findings(
        run_doctor(deployment, federated_config(registration["appId"]))
    )

    assert severity == "error"
    assert "accepts the audience api://other, not entra[].federation.audience" in message
    assert "AADSTS700212" in user_error


# --- the account's outbound identity federation ------------------------------------------


def test_outbound_federation_off_is_an_error_naming_the_enable_command(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    trust(deployment, registration)
    off = FakeIam({"IssuerIdentifier": ISSUER, "JwtVendingEnabled": False})

    diagnosis = run_doctor(deployment, federated_config(registration["appId"]), off)

    [finding] = [f for f in diagnosis.findings if f.category == "federation"]
    assert finding.severity == "error"
    assert "outbound identity federation is off in AWS account 123456789012" in finding.message
    assert "aws iam enable-outbound-web-identity-federation" in finding.fix
    assert "OutboundWebIdentityFederationDisabledException" in finding.user_error


def test_feature_disabled_counts_as_federation_off(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    trust(deployment, registration)
    # The wire code of botocore's FeatureDisabledException shape (iam's service model:
    # "error": {"code": "FeatureDisabled", "httpStatusCode": 404}), which ClientError carries.
    disabled = FakeIam(iam_error("FeatureDisabled"))

    [(severity, message, _)] = federation_findings(
        run_doctor(deployment, federated_config(registration["appId"]), disabled)
    )

    assert severity == "error"
    assert "outbound identity federation is off" in message


def test_unreadable_outbound_federation_warns_and_skips_the_issuer_check(
    deployment: Deployment,
    registration: dict[str, Any],
) -> None:
    # Another issuer would be an error if the account's issuer were known.
    trust(deployment, registration, issuer="https://elsewhere.example.com")
    denied = FakeIam(iam_error("AccessDenied"))

    [(severity, message, _)] = federation_findings(
        run_doctor(deployment, federated_config(registration["appId"]), denied)
    )

    assert severity == "warning"
    assert "could not be read (AccessDenied: AccessDenied message)" in message


def test_tenant_with_a_secret_gets_no_federation_checks(
    deployment: Deployment,
) -> None:
    iam = FakeIam(iam_error("AccessDenied"))
    config = parse_config(example_data(), "example.yaml")

    diagnosis = run_doctor(deployment, config, iam)

    assert iam.calls == 0
    assert federation_findings(diagnosis) == []


def test_doctor_command_reads_outbound_federation_for_a_federated_config(
    deployment: Deployment,
    registration: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = example_data()
    del data["entra"][0]["credentials_secret"]
    data["entra"][0]["federation"] = {"client_id": registration["appId"]}
    config_path = tmp_path / "federated.yaml"
    config_path.write_text(yaml.safe_dump(data))
    off = FakeIam({"JwtVendingEnabled": False})
    monkeypatch.setattr("mobile_sso.doctor._iam_client", lambda _region: off)
    args = ["doctor", "--env", "example", "--config", str(config_path)]
    args += ["--outputs-file", str(deployment.outputs_file), "--skip-entra", "--json"]

    result = runner.invoke(app, args)

    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [f["category"] for f in findings] == ["federation"]
    assert off.calls == 1


def test_doctor_checks_the_federated_sign_in_of_a_stack_without_outputs(
    deployment: Deployment,
    registration: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A first deploy that failed on the federated sign-in rolled back: no stack, no outputs.
    trust(deployment, registration, subject="arn:aws:iam::123456789012:role/someone-else")
    data = example_data()
    del data["entra"][0]["credentials_secret"]
    data["entra"][0]["federation"] = {"client_id": registration["appId"]}
    config_path = tmp_path / "federated.yaml"
    config_path.write_text(yaml.safe_dump(data))
    monkeypatch.setattr("mobile_sso.doctor._iam_client", lambda _region: ENABLED)
    monkeypatch.setattr(
        "mobile_sso.doctor._entra_opener", lambda _config, _choice: admin_reader(deployment)
    )
    monkeypatch.chdir(tmp_path)  # no cdk-outputs-example.json: CloudFormation is asked

    result = runner.invoke(
        app, ["doctor", "--env", "example", "--config", str(config_path), "--json"]
    )

    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [f["category"] for f in findings] == ["outputs", "federation"]
    assert findings[0]["message"].startswith("the stack's outputs could not be read")
    assert f"trusts the handler role {ROLE_ARN}" in findings[1]["message"]


def test_a_federated_tenant_is_signed_in_to_once_for_all_its_entra_checks(
    deployment: Deployment, registration: dict[str, Any]
) -> None:
    trust(deployment, registration)
    open_tenant = admin_reader(deployment)
    opened: list[str] = []

    @contextmanager
    def counting(tenant: EntraTenant) -> Iterator[GraphReader]:
        opened.append(tenant.idp_name)
        with open_tenant(tenant) as reader:
            yield reader

    deployment.outputs[keys.ENTRA_HANDLER_ROLE_ARN] = ROLE_ARN
    config = federated_config(registration["appId"])

    diagnosis = diagnose_directly(deployment, config, entra=counting, iam=ENABLED)

    assert opened == [config.entra[0].idp_name]
    assert diagnosis.findings == ()


def test_a_tenant_that_cannot_be_read_is_reported_once(deployment: Deployment) -> None:
    config = federated_config("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e")

    diagnosis = diagnose_directly(
        deployment, config, entra=_entra_opener(config, CredentialSource.SECRET), iam=ENABLED
    )

    [finding] = diagnosis.findings
    assert finding.category == "federation"
    assert "uses federated credentials" in finding.message
