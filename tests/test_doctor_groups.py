"""`mobile-sso doctor` and Entra groups in the tokens: with `groups` in the config, it checks
what the stack wires for them (the V2_0 pre-token-generation trigger on a feature plan that
runs it, the pool's group attributes, each provider's mapping of Entra's group claims, and
the application's groupMembershipClaims); without `groups`, none of it.

The deployment is tests/doctor_deployment.py's, wired for groups as the stack wires them;
each test breaks one piece and expects exactly the finding that names it.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mobile_sso.config import (
    ENTRA_EMAIL_CLAIM,
    ENTRA_GROUPS_CLAIM,
    ENTRA_OVERAGE_CLAIM,
    GROUPS_ATTRIBUTE,
    OVERAGE_ATTRIBUTE,
)
from tests.conftest import example_data
from tests.doctor_deployment import REGION, Deployment, Outcome, doctor

TRIGGER_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:MobileSso-Example-GroupsTrigger"
V2_TRIGGER = {
    "PreTokenGeneration": TRIGGER_ARN,
    "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": TRIGGER_ARN},
}
GROUP_MAPPING = {
    "email": ENTRA_EMAIL_CLAIM,
    f"custom:{GROUPS_ATTRIBUTE}": ENTRA_GROUPS_CLAIM,
    f"custom:{OVERAGE_ATTRIBUTE}": ENTRA_OVERAGE_CLAIM,
}
ROLE_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
NO_GROUPS_CLAIM = "ID and access tokens without a groups claim"


def set_pool(deployment: Deployment, **settings: Any) -> None:
    """UpdateUserPool with these settings; like AWS, it resets the ones not given."""
    deployment.cognito.update_user_pool(UserPoolId=deployment.pool_id, **settings)


def set_group_claims(deployment: Deployment, value: str | None) -> None:
    """The application's groupMembershipClaims, as an admin sets it in Entra."""
    deployment.graph(
        "PATCH",
        f"/applications/{deployment.app_object_id}",
        {"groupMembershipClaims": value},
    )


def wire_groups(
    deployment: Deployment, attributes: tuple[str, ...] = (GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE)
) -> None:
    """What the stack adds for `groups.source: application_groups`."""
    if attributes:
        deployment.cognito.add_custom_attributes(
            UserPoolId=deployment.pool_id,
            CustomAttributes=[
                {"Name": name, "AttributeDataType": "String", "Mutable": True}
                for name in attributes
            ],
        )
    set_pool(deployment, LambdaConfig=V2_TRIGGER, UserPoolTier="ESSENTIALS")
    deployment.replace_idp(AttributeMapping=GROUP_MAPPING)
    set_group_claims(deployment, "ApplicationGroup")


@pytest.fixture
def wired(deployment: Deployment) -> Deployment:
    """The example deployment with everything the stack adds for groups."""
    wire_groups(deployment)
    return deployment


def doctor_with_groups(
    deployment: Deployment, *extra: str, source: str = "application_groups"
) -> Outcome:
    """The doctor, reading config/example.yaml with `groups.source: <source>` added."""
    data = example_data()
    data["groups"] = {"source": source}
    path = deployment.tmp / "groups.yaml"
    path.write_text(yaml.safe_dump(data))
    return doctor(deployment, "--config", str(path), *extra)


# --- healthy, and off ---------------------------------------------------------------------


def test_groups_wired_as_the_stack_wires_them_have_no_findings(wired: Deployment) -> None:
    outcome = doctor_with_groups(wired)

    assert outcome.exit_code == 0
    assert outcome.report["findings"] == []


def test_entra_sending_all_groups_is_healthy_when_the_source_is_all(wired: Deployment) -> None:
    set_group_claims(wired, "All")

    outcome = doctor_with_groups(wired, source="all")

    assert outcome.report["findings"] == []


def test_config_without_groups_checks_none_of_the_groups_wiring(deployment: Deployment) -> None:
    # The plain deployment: no trigger, no group attributes, mapping or groups claim.
    set_pool(deployment, UserPoolTier="LITE")

    outcome = doctor(deployment)

    assert outcome.exit_code == 0
    assert outcome.report["findings"] == []


# --- the pool -----------------------------------------------------------------------------


def test_pool_without_a_pre_token_trigger_is_a_pool_error(wired: Deployment) -> None:
    set_pool(wired, UserPoolTier="ESSENTIALS")

    outcome = doctor_with_groups(wired)

    assert outcome.exit_code == 1
    assert outcome.findings == [("pool", "error")]
    assert "has no pre-token-generation trigger" in outcome.message("pool")
    assert NO_GROUPS_CLAIM in outcome.message("pool")
    assert "make deploy ENV=example" in outcome.fix("pool")


@pytest.mark.parametrize(
    "triggers",
    [
        {"PreTokenGeneration": TRIGGER_ARN},
        {"PreTokenGenerationConfig": {"LambdaVersion": "V1_0", "LambdaArn": TRIGGER_ARN}},
    ],
    ids=["legacy-field-only", "V1_0"],
)
def test_pre_token_trigger_getting_v1_0_events_is_a_pool_error(
    wired: Deployment, triggers: dict[str, Any]
) -> None:
    set_pool(wired, LambdaConfig=triggers, UserPoolTier="ESSENTIALS")

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("pool", "error")]
    assert "gets V1_0 events, not V2_0" in outcome.message("pool")
    assert "cannot change access tokens" in outcome.message("pool")
    assert NO_GROUPS_CLAIM in outcome.message("pool")


def test_lite_feature_plan_is_a_pool_error(wired: Deployment) -> None:
    set_pool(wired, LambdaConfig=V2_TRIGGER, UserPoolTier="LITE")

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("pool", "error")]
    assert "on the LITE feature plan" in outcome.message("pool")
    assert "Essentials" in outcome.fix("pool")


def test_feature_plan_missing_from_describe_user_pool_is_not_judged(wired: Deployment) -> None:
    set_pool(wired, LambdaConfig=V2_TRIGGER)
    assert (
        "UserPoolTier" not in wired.cognito.describe_user_pool(UserPoolId=wired.pool_id)["UserPool"]
    )

    outcome = doctor_with_groups(wired)

    assert outcome.report["findings"] == []


def test_pool_without_the_group_attributes_is_a_pool_error_naming_both(
    deployment: Deployment,
) -> None:
    wire_groups(deployment, attributes=())

    outcome = doctor_with_groups(deployment)

    assert outcome.findings == [("pool", "error")]
    assert "lacks the custom attribute(s) custom:groups, custom:groups_overage" in (
        outcome.message("pool")
    )
    assert NO_GROUPS_CLAIM in outcome.message("pool")


def test_pool_without_the_overage_attribute_is_a_pool_warning_for_users_in_many_groups(
    deployment: Deployment,
) -> None:
    wire_groups(deployment, attributes=(GROUPS_ATTRIBUTE,))

    outcome = doctor_with_groups(deployment)

    assert outcome.exit_code == 0
    assert outcome.findings == [("pool", "warning")]
    assert "lacks the custom attribute(s) custom:groups_overage," in outcome.message("pool")
    assert "users in more than 150 groups" in outcome.message("pool")


# --- the identity provider's mapping ------------------------------------------------------


def test_idp_not_mapping_the_groups_claim_is_a_claims_error(wired: Deployment) -> None:
    wired.replace_idp(
        AttributeMapping={k: v for k, v in GROUP_MAPPING.items() if k != "custom:groups"}
    )

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("claims", "error")]
    assert "maps no claim to custom:groups" in outcome.message("claims")
    assert f"Entra sends it as {ENTRA_GROUPS_CLAIM}" in outcome.message("claims")
    assert NO_GROUPS_CLAIM in outcome.message("claims")


def test_idp_filling_groups_from_another_claim_is_a_claims_error(wired: Deployment) -> None:
    wired.replace_idp(AttributeMapping={**GROUP_MAPPING, "custom:groups": ROLE_CLAIM})

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("claims", "error")]
    assert f"fills custom:groups from the claim {ROLE_CLAIM}" in outcome.message("claims")


def test_idp_not_mapping_the_overage_claim_is_a_claims_warning(wired: Deployment) -> None:
    wired.replace_idp(
        AttributeMapping={k: v for k, v in GROUP_MAPPING.items() if k != "custom:groups_overage"}
    )

    outcome = doctor_with_groups(wired)

    assert outcome.exit_code == 0
    assert outcome.findings == [("claims", "warning")]
    assert f"Entra sends it as {ENTRA_OVERAGE_CLAIM}" in outcome.message("claims")
    assert "users in more than 150 groups" in outcome.message("claims")


# --- the Entra application ----------------------------------------------------------------


@pytest.mark.parametrize("claims", [None, "None"], ids=["null", "None"])
def test_entra_sending_no_groups_claim_is_an_entra_app_error(
    wired: Deployment, claims: str | None
) -> None:
    set_group_claims(wired, claims)

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("entra_app", "error")]
    assert "Entra sends no groups claim" in outcome.message("entra_app")
    assert NO_GROUPS_CLAIM in outcome.message("entra_app")
    assert "groupMembershipClaims to ApplicationGroup" in outcome.fix("entra_app")


def test_entra_sending_other_groups_than_the_source_is_an_entra_app_error(
    wired: Deployment,
) -> None:
    set_group_claims(wired, "SecurityGroup")

    outcome = doctor_with_groups(wired)

    assert outcome.findings == [("entra_app", "error")]
    assert "groupMembershipClaims SecurityGroup, not ApplicationGroup" in outcome.message(
        "entra_app"
    )
    assert "groups.source: application_groups" in outcome.message("entra_app")


def test_skip_entra_leaves_the_groups_claim_unchecked(wired: Deployment) -> None:
    set_group_claims(wired, None)

    outcome = doctor_with_groups(wired, "--skip-entra")

    assert outcome.report["findings"] == []
