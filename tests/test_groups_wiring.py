"""Entra groups into tokens: the Entra claim, the pool attributes, the mapping, the trigger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from mobile_sso.config import ConfigError, EnvironmentConfig, parse_config
from sso_constructs.entra_saml_application import RESOURCE_TYPE
from tests.conftest import example_data, template_of

ADMINS = "aaaaaaaa-0000-4000-8000-000000000001"


def with_groups(**groups: Any) -> EnvironmentConfig:
    data = example_data()
    data["groups"] = groups
    return parse_config(data, "env.yaml")


@pytest.fixture(scope="module")
def groups_template() -> Template:
    return template_of(with_groups(names={ADMINS: "admins"}))


def test_groups_are_off_by_default(example_template: Template) -> None:
    (app,) = example_template.find_resources(RESOURCE_TYPE).values()
    assert "GroupMembershipClaims" not in app["Properties"]
    (pool,) = example_template.find_resources("AWS::Cognito::UserPool").values()
    assert "LambdaConfig" not in pool["Properties"]


def test_entra_sends_the_groups_assigned_to_the_app_by_default(groups_template: Template) -> None:
    groups_template.has_resource_properties(
        RESOURCE_TYPE, {"GroupMembershipClaims": "ApplicationGroup"}
    )


@pytest.mark.parametrize(
    ("source", "claims"), [("security_groups", "SecurityGroup"), ("all", "All")]
)
def test_group_source_sets_the_entra_claim(source: str, claims: str) -> None:
    template_of(with_groups(source=source)).has_resource_properties(
        RESOURCE_TYPE, {"GroupMembershipClaims": claims}
    )


def test_pool_gets_mutable_group_attributes(groups_template: Template) -> None:
    (pool,) = groups_template.find_resources("AWS::Cognito::UserPool").values()
    custom = {a["Name"]: a for a in pool["Properties"]["Schema"] if a["Name"] != "email"}
    assert set(custom) == {"groups", "groups_overage"}
    assert all(a["Mutable"] is True for a in custom.values())
    assert {a["StringAttributeConstraints"]["MaxLength"] for a in custom.values()} == {"2048"}


def test_idp_maps_the_groups_claim_and_its_overage_marker(groups_template: Template) -> None:
    groups_template.has_resource_properties(
        "AWS::Cognito::UserPoolIdentityProvider",
        {
            "AttributeMapping": Match.object_like(
                {
                    "custom:groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
                    "custom:groups_overage": "http://schemas.microsoft.com/claims/groups.link",
                }
            )
        },
    )


def test_clients_may_write_every_mapped_attribute(groups_template: Template) -> None:
    clients = groups_template.find_resources("AWS::Cognito::UserPoolClient")
    assert clients
    for client in clients.values():
        assert client["Properties"]["WriteAttributes"] == [
            "custom:groups",
            "custom:groups_overage",
            "email",
        ]


def test_trigger_is_the_v2_pre_token_generation(groups_template: Template) -> None:
    groups_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "LambdaConfig": {
                "PreTokenGenerationConfig": Match.object_like({"LambdaVersion": "V2_0"})
            }
        },
    )


def test_trigger_knows_the_attributes_and_the_group_names(groups_template: Template) -> None:
    groups_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "pre_token_groups.handler.handler",
            "Environment": {
                "Variables": {
                    "GROUPS_ATTRIBUTE": "custom:groups",
                    "OVERAGE_ATTRIBUTE": "custom:groups_overage",
                    "ADD_TO_COGNITO_GROUPS": "false",
                    "GROUP_NAMES": json.dumps({ADMINS: "admins"}),
                }
            },
        },
    )


def test_group_names_must_be_keyed_by_object_id() -> None:
    with pytest.raises(ConfigError) as caught:
        with_groups(names={"admins": "admins"})
    assert caught.value.problems[0].startswith(
        "groups.names.admins.[key]: 'admins': expected a GUID"
    )


def test_groups_refuse_clients_that_let_users_edit_their_attributes() -> None:
    data = example_data()
    data["clients"][0]["scopes"] = ["openid", "email", "aws.cognito.signin.user.admin"]
    data["groups"] = {}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    assert caught.value.problems == [
        "groups: with groups on, clients ['ios'] must not have the scope "
        "'aws.cognito.signin.user.admin': it lets users change their own groups"
    ]


def test_groups_need_an_entra_tenant() -> None:
    data = example_data()
    data["entra"] = []
    data["groups"] = {}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    assert caught.value.problems == ["groups: groups need at least one entra tenant"]


def test_groups_pass_cdk_nag_and_cfn_lint(tmp_path: Path) -> None:
    from tests.test_stack import lint_template, synth_to  # noqa: PLC0415

    template = synth_to(tmp_path, with_groups(add_to_cognito_groups=True), nag=True)
    assert lint_template(template) == ""
