"""`mobile-sso doctor` and tenant isolation: with a tenant held to its email_domains (and no
groups), the pool must run the pre-token-generation trigger that refuses other tenants'
emails; wired as the stack wires it, the doctor finds nothing (no groups complaints)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import example_data
from tests.doctor_deployment import REGION, Deployment, Outcome, doctor

TRIGGER_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:MobileSso-Example-TenantIsolation"
DOMAINS = ["contoso.com"]


@pytest.fixture
def routed(deployment: Deployment) -> Deployment:
    """The example deployment whose provider routes DOMAINS, as the stack makes it."""
    deployment.replace_idp(IdpIdentifiers=DOMAINS)
    return deployment


def set_pool(deployment: Deployment, **settings: Any) -> None:
    deployment.cognito.update_user_pool(UserPoolId=deployment.pool_id, **settings)


def doctor_with_domains(deployment: Deployment, **tenant: Any) -> Outcome:
    """The doctor, reading config/example.yaml with the tenant's email_domains set."""
    data = example_data()
    data["entra"][0].update(email_domains=DOMAINS, **tenant)
    path = deployment.tmp / "tenants.yaml"
    path.write_text(yaml.safe_dump(data))
    return doctor(deployment, "--config", str(path))


def test_isolation_trigger_wired_as_the_stack_wires_it_has_no_findings(routed: Deployment) -> None:
    set_pool(
        routed,
        LambdaConfig={
            "PreTokenGeneration": TRIGGER_ARN,
            "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": TRIGGER_ARN},
        },
        UserPoolTier="ESSENTIALS",
    )

    outcome = doctor_with_domains(routed)

    assert outcome.exit_code == 0
    assert outcome.report["findings"] == []


def test_pool_without_the_isolation_trigger_is_a_pool_error(routed: Deployment) -> None:
    outcome = doctor_with_domains(routed)

    assert outcome.exit_code == 1
    assert outcome.findings == [("pool", "error")]
    assert "has no pre-token-generation trigger, which holds the tenant(s) EntraID" in (
        outcome.message("pool")
    )
    assert "another tenant's included" in outcome.message("pool")


def test_a_tenant_that_opts_out_needs_no_trigger(routed: Deployment) -> None:
    outcome = doctor_with_domains(routed, enforce_email_domains=False)

    assert outcome.exit_code == 0
    assert outcome.report["findings"] == []
