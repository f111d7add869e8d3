"""The Entra application custom resource and its wiring into Cognito, as synthesized."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from mobile_sso.config import EnvironmentConfig
from sso_constructs.entra_saml_application import (
    CLOUD_ENDPOINTS,
    RESOURCE_TYPE,
    EntraAssignment,
    EntraCloud,
    EntraSamlApplication,
    PrincipalType,
)
from tests.conftest import REPO, example_data, make_config, template_of

USER = "11111111-1111-1111-1111-111111111111"
GROUP = "22222222-2222-2222-2222-222222222222"
TENANT = "00000000-0000-0000-0000-000000000000"
FIXTURE = REPO / "tests" / "fixtures" / "app-federation-metadata.xml"


def entra_config(**changes: Any) -> EnvironmentConfig:
    data = example_data()
    data["entra"][0].update(changes)
    return make_config(entra=data["entra"])


def resources_of(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_entra_app_and_idp_logical_ids_are_pinned(example_template: Template) -> None:
    assert list(resources_of(example_template, RESOURCE_TYPE)) == ["EntraAppEntraID76D5F058"]
    assert list(resources_of(example_template, "AWS::Cognito::UserPoolIdentityProvider")) == [
        "EntraIdpEntraID013A6CB0"
    ]


def test_entra_app_gets_cognitos_service_provider_values(example_template: Template) -> None:
    domain = "https://mobile-sso-example-7f3a.auth.eu-west-1.amazoncognito.com"
    example_template.has_resource_properties(
        RESOURCE_TYPE,
        {
            "TenantId": TENANT,
            "DisplayName": "mobile-sso-example (mobile SSO)",
            "IdentifierUri": {
                "Fn::Join": ["", ["urn:amazon:cognito:sp:", {"Ref": "UserPool335E89E8"}]]
            },
            "ReplyUrl": f"{domain}/saml2/idpresponse",
            "LogoutUrl": f"{domain}/saml2/logout",
            "AssignmentRequired": "true",
            "RetainOnDelete": "false",
        },
    )


def test_only_the_secret_arn_reaches_the_template(example_template: Template) -> None:
    (app,) = resources_of(example_template, RESOURCE_TYPE).values()
    assert app["Properties"]["CredentialsSecretArn"] == (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mobile-sso/entra-deployer"
    )
    assert not {"ClientSecret", "clientSecret", "CertificatePem"} & set(app["Properties"])


def test_assignments_pass_users_and_groups() -> None:
    template = template_of(entra_config(assignments={"users": [USER], "groups": [GROUP]}))
    template.has_resource_properties(
        RESOURCE_TYPE,
        {
            "Assignments": [
                {"PrincipalId": USER, "PrincipalType": "User"},
                {"PrincipalId": GROUP, "PrincipalType": "Group"},
            ]
        },
    )


METADATA_URL = {
    "Fn::Join": [
        "",
        [
            f"https://login.microsoftonline.com/{TENANT}/federationmetadata/2007-06/"
            "federationmetadata.xml?appid=",
            {"Fn::GetAtt": ["EntraAppEntraID76D5F058", "AppId"]},
        ],
    ]
}


def test_idp_reads_the_metadata_url_of_the_app_the_custom_resource_made(
    example_template: Template,
) -> None:
    example_template.has_resource_properties(
        "AWS::Cognito::UserPoolIdentityProvider",
        {
            "ProviderName": "EntraID",
            "ProviderType": "SAML",
            "ProviderDetails": {
                "MetadataURL": METADATA_URL,
                "IDPSignout": False,
            },
        },
    )


def test_idp_maps_entra_email_claim(example_template: Template) -> None:
    # The claim type a new SAML app's default claims give user.mail, copied from "Customize
    # SAML token claims":
    # MicrosoftDocs/entra-docs:docs/identity-platform/saml-claims-customization.md
    example_template.has_resource_properties(
        "AWS::Cognito::UserPoolIdentityProvider",
        {
            "AttributeMapping": {
                "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
            }
        },
    )


def test_idp_maps_name_claims_when_configured() -> None:
    given = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
    surname = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
    display = "http://schemas.microsoft.com/identity/claims/displayname"
    mapping = {"name": display, "given_name": given, "family_name": surname}
    template = template_of(entra_config(attribute_mapping=mapping))
    template.has_resource_properties(
        "AWS::Cognito::UserPoolIdentityProvider",
        {
            "AttributeMapping": {
                "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                "name": display,
                "given_name": given,
                "family_name": surname,
            }
        },
    )


def test_every_client_offers_the_idp_by_default(example_template: Template) -> None:
    clients = resources_of(example_template, "AWS::Cognito::UserPoolClient")
    assert clients
    for client in clients.values():
        # A Ref (not a literal name) orders the client after the IdP it names.
        assert client["Properties"]["SupportedIdentityProviders"] == [
            {"Ref": "EntraIdpEntraID013A6CB0"}
        ]


def test_client_may_opt_out_of_the_idp() -> None:
    data = example_data()
    data["clients"][1]["identity_providers"] = []
    data["clients"][1]["allow_cognito_users"] = True
    template = template_of(make_config(clients=data["clients"]))
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ClientName": "android", "SupportedIdentityProviders": ["COGNITO"]},
    )


def test_idp_is_created_after_the_entra_app(example_template: Template) -> None:
    # The GetAtt on the custom resource orders the IdP after it: CloudFormation creates the
    # IdP only once the handler reports the metadata URL serving the new certificate.
    (idp,) = resources_of(example_template, "AWS::Cognito::UserPoolIdentityProvider").values()
    _, parts = idp["Properties"]["ProviderDetails"]["MetadataURL"]["Fn::Join"]
    assert parts[1]["Fn::GetAtt"][0] == "EntraAppEntraID76D5F058"


def test_entra_outputs(example_template: Template) -> None:
    found = example_template.find_outputs("*")
    assert found["IdentityProviderNames"]["Value"] == "EntraID"
    assert found["IdpEntraIDTenantId"]["Value"] == TENANT
    assert found["IdpEntraIDEntraAppId"]["Value"] == {
        "Fn::GetAtt": ["EntraAppEntraID76D5F058", "AppId"]
    }
    assert found["IdpEntraIDMetadataUrl"]["Value"] == METADATA_URL
    assert found["ClientIosIdentityProviders"]["Value"] == "EntraID"


def test_handler_environment_names_the_global_cloud(example_template: Template) -> None:
    endpoints = CLOUD_ENDPOINTS[EntraCloud.GLOBAL]
    example_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "entra_saml_app.handler.on_event",
            "Runtime": "python3.13",
            "Environment": {
                "Variables": {
                    "ENTRA_GRAPH_ENDPOINT": endpoints.graph,
                    "ENTRA_LOGIN_AUTHORITY": endpoints.login,
                    "ENTRA_NON_GALLERY_TEMPLATE_ID": endpoints.non_gallery_template_id,
                }
            },
        },
    )


# Each cloud's Graph and Entra sign-in roots, copied from Microsoft's "Microsoft Graph national
# cloud deployments" (microsoftgraph/microsoft-graph-docs-contrib:concepts/deployments.md), and
# its non-gallery application template, copied from Graph's instantiate page:
# microsoftgraph/microsoft-graph-docs-contrib:api-reference/v1.0/api/applicationtemplate-instantiate.md  # noqa: E501
@pytest.mark.parametrize(
    ("cloud", "graph", "login", "template_id"),
    [
        (
            "global",
            "https://graph.microsoft.com",
            "https://login.microsoftonline.com",
            "8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
        ),
        (
            "usgov",
            "https://graph.microsoft.us",
            "https://login.microsoftonline.us",
            "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
        ),
        (
            "usgov-dod",
            "https://dod-graph.microsoft.us",
            "https://login.microsoftonline.us",
            "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
        ),
        (
            "china",
            "https://microsoftgraph.chinacloudapi.cn",
            "https://login.chinacloudapi.cn",
            "5a532e38-1581-4918-9658-008dc27c1d68",
        ),
    ],
)
def test_each_cloud_gets_its_documented_endpoints_and_template(
    cloud: str, graph: str, login: str, template_id: str
) -> None:
    template_of(entra_config(cloud=cloud)).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "ENTRA_GRAPH_ENDPOINT": graph,
                        "ENTRA_LOGIN_AUTHORITY": login,
                        "ENTRA_NON_GALLERY_TEMPLATE_ID": template_id,
                        # the handler uploads its own signing certificate outside "global"
                        "ENTRA_CLOUD": cloud,
                    }
                )
            }
        },
    )


def test_handlers_may_read_only_their_credentials_secret(example_template: Template) -> None:
    policies = resources_of(example_template, "AWS::IAM::Policy")
    reading = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(statement["Action"])
    ]
    assert len(reading) == 2  # the onEvent and isComplete handlers
    for statement in reading:
        assert statement["Resource"] == (
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mobile-sso/entra-deployer-??????"
        )


def test_custom_resource_times_out_before_cloudformation_gives_up(
    example_template: Template,
) -> None:
    example_template.has_resource_properties(RESOURCE_TYPE, {"ServiceTimeout": "2700"})
    machine = resources_of(example_template, "AWS::StepFunctions::StateMachine")
    assert len(machine) == 1


def test_one_provider_serves_several_applications() -> None:
    stack = cdk.Stack(cdk.App(post_cli_context={"aws:cdk:bundling-stacks": []}), "Test")
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Creds", "creds")
    for name in ("A", "B"):
        EntraSamlApplication(
            stack,
            name,
            tenant_id=TENANT,
            display_name=name,
            identifier_uri=f"urn:example:{name}",
            reply_url="https://example.com/saml2/idpresponse",
            credentials=secret,
        )
    template = Template.from_stack(stack)
    template.resource_count_is(RESOURCE_TYPE, 2)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)


def test_construct_refuses_a_tenant_id_that_is_not_a_guid() -> None:
    stack = cdk.Stack(cdk.App(post_cli_context={"aws:cdk:bundling-stacks": []}), "Test")
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Creds", "creds")
    with pytest.raises(ValueError, match="tenant_id must be a GUID"):
        EntraSamlApplication(
            stack,
            "App",
            tenant_id="contoso.onmicrosoft.com",
            display_name="x",
            identifier_uri="urn:x",
            reply_url="https://example.com/saml2/idpresponse",
            credentials=secret,
            assignments=[EntraAssignment(USER, PrincipalType.USER)],
        )


def test_metadata_document_is_too_big_for_a_custom_resource_response() -> None:
    # Why the handler returns the metadata URL: a custom resource response is limited to
    # 4096 bytes, and a real Entra federation metadata document is several times larger.
    assert FIXTURE.stat().st_size > 4096
    assert len(FIXTURE.read_bytes()) == 14170


def test_entra_config_errors_name_the_key() -> None:
    from mobile_sso.config import ConfigError, parse_config  # noqa: PLC0415

    data = example_data()
    data["entra"][0]["tenant_id"] = "contoso.onmicrosoft.com"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    assert caught.value.problems == [
        "entra[0].tenant_id: 'contoso.onmicrosoft.com': expected a GUID such as "
        "72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra shows it as the Directory (tenant) ID or "
        "Object ID)"
    ]
