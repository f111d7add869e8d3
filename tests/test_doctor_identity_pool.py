"""`mobile-sso doctor` and the identity pool: it must trust every app client's ID tokens,
give signed-in users the authenticated role (through the config's rules, when there are
some) and never admit guests. moto serves DescribeIdentityPool but not the roles, so a
wrapper answers GetIdentityPoolRoles as Cognito does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import yaml
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.config import EnvironmentConfig, parse_config
from mobile_sso.doctor_checks import Diagnosis
from tests.conftest import example_data
from tests.doctor_deployment import REGION, Deployment, diagnose_directly

AUTHENTICATED_ROLE = "arn:aws:iam::123456789012:role/signed-in"
TESTERS_ROLE = "arn:aws:iam::123456789012:role/testers"


class IdentityPools:
    """moto's cognito-identity client, plus GetIdentityPoolRoles answering `roles`, or
    failing with `error`."""

    def __init__(self, roles: Mapping[str, Any], error: str | None = None) -> None:
        self._moto = boto3.client("cognito-identity", region_name=REGION)
        self.roles = roles
        self.error = error

    def describe_identity_pool(self, *, IdentityPoolId: str) -> Mapping[str, Any]:
        if self.error is not None:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "Describe")
        answer: Mapping[str, Any] = self._moto.describe_identity_pool(IdentityPoolId=IdentityPoolId)
        return answer

    def get_identity_pool_roles(self, *, IdentityPoolId: str) -> Mapping[str, Any]:
        self._moto.describe_identity_pool(IdentityPoolId=IdentityPoolId)  # 404 as Cognito
        return {"IdentityPoolId": IdentityPoolId, **self.roles}


@pytest.fixture
def identity_pool(deployment: Deployment) -> str:
    """The identity pool as the stack makes it, trusting both app clients; its id is in the
    outputs."""
    provider = f"cognito-idp.{REGION}.amazonaws.com/{deployment.pool_id}"
    made = boto3.client("cognito-identity", region_name=REGION).create_identity_pool(
        IdentityPoolName="mobile_sso_example",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[
            {"ProviderName": provider, "ClientId": client_id, "ServerSideTokenCheck": False}
            for client_id in deployment.client_ids.values()
        ],
    )
    deployment.outputs["IdentityPoolId"] = made["IdentityPoolId"]
    return str(made["IdentityPoolId"])


def rules_for(deployment: Deployment) -> dict[str, Any]:
    provider = f"cognito-idp.{REGION}.amazonaws.com/{deployment.pool_id}"
    rule = {"Claim": "cognito:groups", "MatchType": "Contains", "Value": "testers"}
    return {
        f"{provider}:{client_id}": {
            "Type": "Rules",
            "AmbiguousRoleResolution": "AuthenticatedRole",
            "RulesConfiguration": {"Rules": [{**rule, "RoleARN": TESTERS_ROLE}]},
        }
        for client_id in deployment.client_ids.values()
    }


def config_with_identity_pool(*, rules: bool = False) -> EnvironmentConfig:
    data = example_data()
    data["identity_pool"] = {
        "role_rules": [{"value": "testers", "role_arn": TESTERS_ROLE}] if rules else []
    }
    return parse_config(data, "identity-pool.yaml")


def run_doctor(
    deployment: Deployment,
    config: EnvironmentConfig,
    identity: IdentityPools,
) -> Diagnosis:
    return diagnose_directly(deployment, config, identity=identity)


def findings(diagnosis: Diagnosis) -> list[tuple[str, str, str]]:
    return [(f.category, f.severity, f.message) for f in diagnosis.findings]


WITH_ROLE = {"Roles": {"authenticated": AUTHENTICATED_ROLE}}


def test_identity_pool_as_the_stack_makes_it_is_healthy(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    roles = {**WITH_ROLE, "RoleMappings": rules_for(deployment)}

    diagnosis = run_doctor(deployment, config_with_identity_pool(rules=True), IdentityPools(roles))

    assert findings(diagnosis) == []


def test_missing_output_is_an_error(
    deployment: Deployment,
) -> None:
    [(category, severity, message)] = findings(
        run_doctor(deployment, config_with_identity_pool(), IdentityPools(WITH_ROLE))
    )

    assert (category, severity) == ("identity_pool", "error")
    assert "the outputs have no IdentityPoolId" in message


def test_identity_pool_that_is_gone_is_an_error(
    deployment: Deployment,
) -> None:
    gone = f"{REGION}:00000000-0000-4000-8000-000000000000"
    deployment.outputs["IdentityPoolId"] = gone

    [(category, severity, message)] = findings(
        run_doctor(deployment, config_with_identity_pool(), IdentityPools(WITH_ROLE))
    )

    assert (category, severity) == ("identity_pool", "error")
    assert f"identity pool {gone} (output IdentityPoolId) does not exist" in message


def test_client_the_pool_does_not_trust_is_an_error_naming_it(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    provider = f"cognito-idp.{REGION}.amazonaws.com/{deployment.pool_id}"
    boto3.client("cognito-identity", region_name=REGION).update_identity_pool(
        IdentityPoolId=identity_pool,
        IdentityPoolName="mobile_sso_example",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[
            {"ProviderName": provider, "ClientId": deployment.client_ids["ios"]}
        ],
    )

    diagnosis = run_doctor(deployment, config_with_identity_pool(), IdentityPools(WITH_ROLE))

    [(category, severity, message)] = findings(diagnosis)
    assert (category, severity) == ("identity_pool", "error")
    assert f"ID tokens of app client 'android' ({deployment.client_ids['android']})" in message
    assert "NotAuthorizedException" in diagnosis.findings[0].user_error


def test_guest_access_is_a_warning(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    described = boto3.client("cognito-identity", region_name=REGION).describe_identity_pool(
        IdentityPoolId=identity_pool
    )
    boto3.client("cognito-identity", region_name=REGION).update_identity_pool(
        IdentityPoolId=identity_pool,
        IdentityPoolName=described["IdentityPoolName"],
        AllowUnauthenticatedIdentities=True,
        CognitoIdentityProviders=described["CognitoIdentityProviders"],
    )

    [(category, severity, message)] = findings(
        run_doctor(deployment, config_with_identity_pool(), IdentityPools(WITH_ROLE))
    )

    assert (category, severity) == ("identity_pool", "warning")
    assert "allows unauthenticated identities" in message


def test_pool_without_an_authenticated_role_is_an_error(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    diagnosis = run_doctor(deployment, config_with_identity_pool(), IdentityPools({"Roles": {}}))

    [(category, severity, message)] = findings(diagnosis)
    assert (category, severity) == ("identity_pool", "error")
    assert "has no authenticated role" in message
    assert "GetCredentialsForIdentity" in diagnosis.findings[0].user_error


def test_configured_role_rules_missing_for_a_client_are_a_warning(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    mappings = rules_for(deployment)
    provider = f"cognito-idp.{REGION}.amazonaws.com/{deployment.pool_id}"
    del mappings[f"{provider}:{deployment.client_ids['ios']}"]
    roles = {**WITH_ROLE, "RoleMappings": mappings}

    diagnosis = run_doctor(deployment, config_with_identity_pool(rules=True), IdentityPools(roles))

    [(category, severity, message)] = findings(diagnosis)
    assert (category, severity) == ("identity_pool", "warning")
    assert "applies no role rules to app client 'ios'" in message


def test_unreadable_identity_pool_is_a_warning_and_the_other_checks_go_on(
    deployment: Deployment,
    identity_pool: str,
) -> None:
    deployment.update_client("ios", SupportedIdentityProviders=[])
    denied = IdentityPools(WITH_ROLE, error="AccessDeniedException")

    diagnosis = run_doctor(deployment, config_with_identity_pool(), denied)

    assert sorted((c, s) for c, s, _ in findings(diagnosis)) == [
        ("client", "error"),
        ("identity_pool", "warning"),
    ]


def test_config_without_identity_pool_reads_none(
    deployment: Deployment,
) -> None:
    refusing = IdentityPools(WITH_ROLE, error="AccessDeniedException")
    config = parse_config(example_data(), "example.yaml")

    assert findings(run_doctor(deployment, config, refusing)) == []


def test_doctor_command_reads_the_identity_pool_of_a_config_that_has_one(
    deployment: Deployment,
    identity_pool: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = example_data()
    data["identity_pool"] = {}
    config_path = tmp_path / "identity-pool.yaml"
    config_path.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(
        "mobile_sso.doctor._identity_client", lambda _region: IdentityPools({"Roles": {}})
    )
    args = ["doctor", "--env", "example", "--config", str(config_path)]
    args += ["--outputs-file", str(deployment.outputs_file), "--skip-entra", "--json"]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1, result.output
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["category"] == "identity_pool"
    assert finding["message"].startswith(f"identity pool {identity_pool} has no authenticated role")
