"""Secretless Entra sign-in in the synthesized stack: the config switch, the handler role's
fixed name and output, and its one extra permission, scoped by condition keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from mobile_sso import outputs
from mobile_sso.config import ConfigError, EnvironmentConfig, load_config, parse_config
from sso_constructs.entra_saml_application import (
    RESOURCE_TYPE,
    EntraFederation,
    EntraSamlApplication,
    handler_role_name,
)
from tests.conftest import example_data, template_of
from tests.test_stack import synth_to

pytestmark = pytest.mark.synth

DEPLOYER = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
AUDIENCE = "api://AzureADTokenExchange"


def federated_data(**federation: str) -> dict[str, Any]:
    data = example_data()
    tenant = data["entra"][0]
    del tenant["credentials_secret"]
    tenant["federation"] = {"client_id": DEPLOYER, **federation}
    return data


def federated_config(**federation: str) -> EnvironmentConfig:
    return parse_config(federated_data(**federation), "federated.yaml")


@pytest.fixture(scope="module")
def federated_template() -> Template:
    return template_of(federated_config())


def handler_roles(template: Template) -> dict[str, Any]:
    return {
        logical_id: role
        for logical_id, role in template.find_resources("AWS::IAM::Role").items()
        if "HandlerRole" in logical_id
    }


def test_federation_default_audience_is_entras_recommended_one() -> None:
    tenant = federated_config().entra[0]

    assert tenant.federation is not None
    assert tenant.federation.audience == AUDIENCE
    assert tenant.credentials_secret is None


@pytest.mark.parametrize("keep_secret", [True, False])
def test_tenant_needs_exactly_one_credential_source(keep_secret: bool) -> None:
    data = federated_data()
    tenant = data["entra"][0]
    if keep_secret:
        tenant["credentials_secret"] = "mobile-sso/entra-deployer"
    else:
        del tenant["federation"]

    with pytest.raises(ConfigError) as caught:
        parse_config(data, "federated.yaml")

    assert caught.value.problems == [
        "entra[0]: set exactly one of 'credentials_secret' (a Secrets Manager secret) or "
        "'federation' (no stored secret: {client_id: <deployer app id>})"
    ]


def test_custom_resource_carries_the_client_id_and_audience_not_a_secret_arn(
    federated_template: Template,
) -> None:
    (app,) = federated_template.find_resources(RESOURCE_TYPE).values()

    props = app["Properties"]
    assert props["FederatedClientId"] == DEPLOYER
    assert props["FederationAudience"] == AUDIENCE
    assert "CredentialsSecretArn" not in props


def test_both_handlers_share_one_role_with_a_fixed_name(federated_template: Template) -> None:
    (logical_id, role), *rest = handler_roles(federated_template).items()

    assert rest == []
    stack_name = federated_config().stack_name
    assert role["Properties"]["RoleName"] == f"{stack_name}-entra-handler"
    functions = federated_template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": Match.string_like_regexp("^entra_")}}
    )
    assert len(functions) == 2
    for function in functions.values():
        assert function["Properties"]["Role"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_handler_role_may_get_tokens_only_for_the_audience_rs256_and_5_minutes(
    federated_template: Template,
) -> None:
    (logical_id,) = handler_roles(federated_template)
    policies = federated_template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": logical_id}]}}
    )

    statements = [
        s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "sts:GetWebIdentityToken",
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": [AUDIENCE]},
                "Null": {"sts:IdentityTokenAudience": "false"},
                "StringEquals": {"sts:SigningAlgorithm": "RS256"},
                "NumericLessThanEquals": {"sts:DurationSeconds": 300},
            },
        }
    ]


def test_federated_stack_grants_no_secret_read(federated_template: Template) -> None:
    text = json.dumps(federated_template.to_json())

    assert "secretsmanager:GetSecretValue" not in text


def test_handler_role_arn_is_an_output(federated_template: Template) -> None:
    found = federated_template.find_outputs(outputs.ENTRA_HANDLER_ROLE_ARN)

    (logical_id,) = handler_roles(federated_template)
    assert found[outputs.ENTRA_HANDLER_ROLE_ARN]["Value"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_configured_audience_reaches_the_resource_and_the_policy() -> None:
    template = template_of(federated_config(audience="api://contoso-deployer"))

    template.has_resource_properties(
        RESOURCE_TYPE, {"FederationAudience": "api://contoso-deployer"}
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Condition": Match.object_like(
                                {
                                    "ForAllValues:StringEquals": {
                                        "sts:IdentityTokenAudience": ["api://contoso-deployer"]
                                    }
                                }
                            )
                        }
                    )
                ]
            }
        },
    )


def test_role_name_of_a_long_stack_name_stays_within_iams_64_characters() -> None:
    name = handler_role_name("s" * 60)

    assert len(name) == 64
    assert name.endswith("-entra-handler")
    assert name == handler_role_name("s" * 60)
    assert name != handler_role_name("s" * 59 + "t")


def test_cdk_nag_finds_nothing_unacknowledged_with_federation(tmp_path: Path) -> None:
    synth_to(tmp_path, federated_config(), nag=True)  # raises on any finding

    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def mixed_config() -> EnvironmentConfig:
    """Multitenant, the second tenant federated: all three share the one handler role."""
    multitenant = load_config("example-multitenant").model_dump(mode="json", exclude_none=True)
    tenant = multitenant["entra"][1]
    del tenant["credentials_secret"]
    tenant["federation"] = {"client_id": DEPLOYER}
    return parse_config(multitenant, "mixed.yaml")


def test_cdk_nag_finds_nothing_unacknowledged_with_mixed_tenants(tmp_path: Path) -> None:
    synth_to(tmp_path, mixed_config(), nag=True)  # raises on any finding

    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_federated_application_after_a_secret_one_is_refused_with_the_order_to_use() -> None:
    stack = cdk.Stack(cdk.App(post_cli_context={"aws:cdk:bundling-stacks": []}), "Mixed")
    common: dict[str, Any] = {
        "tenant_id": "11111111-1111-4111-8111-111111111111",
        "display_name": "app",
        "identifier_uri": "urn:amazon:cognito:sp:eu-west-1_x",
        "reply_url": "https://x.auth.eu-west-1.amazoncognito.com/saml2/idpresponse",
    }
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Creds", "creds")
    EntraSamlApplication(stack, "WithSecret", credentials=secret, **common)

    with pytest.raises(ValueError, match="create the federated Entra applications of the global"):
        EntraSamlApplication(stack, "Federated", federation=EntraFederation(DEPLOYER), **common)


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")],
)
def test_handler_role_arn_is_in_the_partition_of_the_stacks_region(
    region: str, partition: str
) -> None:
    arn = outputs.handler_role_arn("123456789012", region, "MobileSso-Prod")

    assert arn == f"arn:{partition}:iam::123456789012:role/MobileSso-Prod-entra-handler"


def test_federation_without_client_id_is_refused_outside_bootstrap() -> None:
    data = federated_data()
    del data["entra"][0]["federation"]["client_id"]

    with pytest.raises(ConfigError, match=r"federation\.client_id: required key is missing"):
        parse_config(data, "env.yaml")


def test_federation_without_client_id_is_accepted_while_bootstrapping() -> None:
    data = federated_data()
    del data["entra"][0]["federation"]["client_id"]

    config = parse_config(data, "env.yaml", bootstrapping=True)

    assert config.entra[0].federation is not None
    assert config.entra[0].federation.client_id is None
