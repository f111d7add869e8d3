"""model.py: every property arrives as a string and is parsed once, old shapes included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from entra_saml_app.model import AppProperties, Owner, PropertyError, Request

from tests.lambda_handler.conftest import load_event

TENANT = "7a4e3c1b-2d5f-4e6a-8b9c-0d1e2f3a4b5c"
USER = "1F0E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"


def create_event(**props: Any) -> dict[str, Any]:
    event = load_event(
        "create",
        TenantId=TENANT,
        SecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-AbCdEf",
        UserId=USER,
        GroupId="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    )
    event["ResourceProperties"].update(props)
    return event


def test_strings_become_typed_values() -> None:
    props = Request.parse(create_event()).properties

    assert props.assignment_required is True
    assert props.retain_on_delete is False
    assert props.certificate_validity_years == 3
    assert props.assignments[0].principal_id == USER.lower()
    assert props.assignments[1].principal_type == "Group"


def test_absent_optional_properties_take_their_defaults() -> None:
    event = load_event(
        "create-minimal",
        TenantId=TENANT,
        SecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:e-AbCdEf",
    )

    props = Request.parse(event).properties

    assert props.assignments == ()
    assert props.assignment_required is True
    assert props.logout_url is None
    assert props.notes is None
    assert props.group_membership_claims == "None"


def test_assignments_given_as_a_json_string_are_accepted() -> None:
    listed = json.dumps([{"PrincipalId": USER, "PrincipalType": "User"}])

    props = Request.parse(create_event(Assignments=listed)).properties

    assert [p.principal_id for p in props.assignments] == [USER.lower()]


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("AssignmentRequired", "yes", "expected 'true' or 'false'"),
        ("CertificateValidityYears", "5", "whole number 1-3"),
        ("ReplyUrl", "http://example.com/saml2/idpresponse", "https://"),
        ("TenantId", "not a tenant", "tenant GUID"),
        ("CredentialsSecretArn", "my-secret", "Secrets Manager secret ARN"),
        ("Assignments", [{"PrincipalId": "bob"}], "object id GUID"),
        (
            "GroupMembershipClaims",
            "Groups",
            "expected one of None, SecurityGroup, All, ApplicationGroup, DirectoryRole",
        ),
    ],
)
def test_invalid_value_names_the_property_the_value_and_the_rule(
    name: str, value: Any, rule: str
) -> None:
    with pytest.raises(PropertyError) as failure:
        Request.parse(create_event(**{name: value}))

    assert f"Property {name}" in str(failure.value)
    assert rule in str(failure.value)


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        ("ApplicationGroup", "ApplicationGroup"),
        ("securitygroup", "SecurityGroup"),
        (" All ", "All"),
        ("", "None"),
    ],
)
def test_group_membership_claims_take_the_spelling_graph_uses(given: str, parsed: str) -> None:
    props = Request.parse(create_event(GroupMembershipClaims=given)).properties

    assert props.group_membership_claims == parsed


def test_update_with_unparseable_old_properties_still_knows_the_old_tenant() -> None:
    event = create_event()
    event["RequestType"] = "Update"
    event["OldResourceProperties"] = {"TenantId": TENANT, "ReplyUrl": "ftp://old"}

    request = Request.parse(event)

    assert request.old_properties is None
    assert request.old_tenant_id == TENANT


def test_owner_marks_are_stable_and_fit_graph_limits() -> None:
    owner = Owner("arn:aws:cloudformation:eu-west-1:123456789012:stack/S/" + "f" * 36, "X" * 255)

    assert owner.tag == Owner(owner.stack_id, owner.logical_id).tag
    assert owner.tag != Owner(owner.stack_id, "Other").tag
    assert len(owner.tag) <= 256
    assert len(owner.pending_name) <= 256
    assert "stack S, resource" in owner.provenance


def test_properties_are_comparable_by_value() -> None:
    first = AppProperties.parse(create_event()["ResourceProperties"])
    second = AppProperties.parse(create_event()["ResourceProperties"])

    assert first == second
