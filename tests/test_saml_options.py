"""Cognito's SAML options, the identity pool, managed login and the custom-domain alias."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from mobile_sso.config import ConfigError, EnvironmentConfig, parse_config
from tests.conftest import example_data, template_of

IDP = "AWS::Cognito::UserPoolIdentityProvider"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
ROLE = "arn:aws:iam::123456789012:role/mobile-admins"


def config_with(tenant: dict[str, Any] | None = None, **top: Any) -> EnvironmentConfig:
    data = example_data()
    data["entra"][0].update(tenant or {})
    data.update(top)
    return parse_config(data, "env.yaml")


def problems_for(tenant: dict[str, Any] | None = None, **top: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_with(tenant, **top)
    return caught.value.problems


def test_saml_options_are_off_by_default(example_template: Template) -> None:
    (idp,) = example_template.find_resources(IDP).values()
    details = idp["Properties"]["ProviderDetails"]
    assert details["IDPSignout"] is False
    assert details.get("IDPInit") in (None, False)
    assert "RequestSigningAlgorithm" not in details


def test_idp_initiated_sign_in_is_opt_in() -> None:
    template_of(
        config_with({"idp_initiated": True, "idp_initiated_client": "ios"})
    ).has_resource_properties(IDP, {"ProviderDetails": Match.object_like({"IDPInit": True})})


def test_idp_initiated_gives_each_client_its_relay_state() -> None:
    found = template_of(
        config_with({"idp_initiated": True, "idp_initiated_client": "ios"})
    ).find_outputs("*")
    relay = found["ClientIosIdpEntraIDRelayState"]["Value"]["Fn::Join"][1]
    assert relay[0] == "identity_provider=EntraID&client_id="
    assert relay[1] == {"Ref": "ClientiosFFD16538"}
    assert relay[2] == (
        "&redirect_uri=com.example.mobilesso%3A%2F%2Fcallback&response_type=code"
        "&scope=openid+email+profile"
    )


def test_idp_initiated_client_may_not_offer_cognito_users() -> None:
    data = example_data()
    data["entra"][0]["idp_initiated"] = True
    data["entra"][0]["idp_initiated_client"] = "ios"
    data["clients"][0]["allow_cognito_users"] = True
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    assert caught.value.problems == [
        "clients: client 'ios' offers IdP-initiated provider(s) ['EntraID'], so it may offer "
        "only SAML providers: drop allow_cognito_users or the IdP"
    ]


def test_idp_initiated_relay_state_is_written_into_entra() -> None:
    template = template_of(config_with({"idp_initiated": True, "idp_initiated_client": "ios"}))
    (relay,) = template.find_resources("Custom::EntraSamlRelayState").values()
    properties = relay["Properties"]
    assert properties["ServicePrincipalId"] == {
        "Fn::GetAtt": ["EntraAppEntraID76D5F058", "ServicePrincipalId"]
    }
    assert properties["TenantId"] == "00000000-0000-0000-0000-000000000000"
    parts = properties["RelayState"]["Fn::Join"][1]
    assert parts[0] == "identity_provider=EntraID&client_id="
    assert parts[1] == {"Ref": "ClientiosFFD16538"}


def test_no_relay_state_resource_without_idp_initiated(example_template: Template) -> None:
    example_template.resource_count_is("Custom::EntraSamlRelayState", 0)


def test_idp_initiated_needs_a_target_client_when_several_offer_the_idp() -> None:
    assert problems_for({"idp_initiated": True}) == [
        "clients: entra tenant 'EntraID' has idp_initiated on and is offered by clients "
        "['ios', 'android']: set idp_initiated_client to the one Entra's My Apps tile signs in to"
    ]


def test_idp_initiated_client_must_exist() -> None:
    assert problems_for({"idp_initiated": True, "idp_initiated_client": "web"}) == [
        "clients: entra tenant 'EntraID': idp_initiated_client 'web' is not a client; "
        "clients: ['ios', 'android']"
    ]


def test_idp_sign_out_is_opt_in() -> None:
    template_of(config_with({"idp_signout": True})).has_resource_properties(
        IDP, {"ProviderDetails": Match.object_like({"IDPSignout": True})}
    )


def test_signed_authentication_requests_are_opt_in() -> None:
    template_of(config_with({"sign_requests": True})).has_resource_properties(
        IDP, {"ProviderDetails": Match.object_like({"RequestSigningAlgorithm": "rsa-sha256"})}
    )


def test_managed_login_is_the_classic_hosted_ui_by_default(example_template: Template) -> None:
    example_template.resource_count_is("AWS::Cognito::ManagedLoginBranding", 0)
    (domain,) = example_template.find_resources("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"].get("ManagedLoginVersion") in (None, 1)


def test_managed_login_version_2_brands_every_client() -> None:
    data = example_data()
    data["domain"]["managed_login_version"] = 2
    template = template_of(parse_config(data, "env.yaml"))
    template.has_resource_properties("AWS::Cognito::UserPoolDomain", {"ManagedLoginVersion": 2})
    template.resource_count_is("AWS::Cognito::ManagedLoginBranding", 2)
    template.has_resource_properties(
        "AWS::Cognito::ManagedLoginBranding",
        {"ClientId": {"Ref": "ClientiosFFD16538"}, "UseCognitoProvidedValues": True},
    )


def custom_domain(**zone: str) -> dict[str, Any]:
    return {"custom": {"domain_name": "auth.example.com", "certificate_arn": CERT, **zone}}


def test_custom_domain_gets_a_route53_alias_when_a_zone_is_given() -> None:
    config = config_with(
        domain=custom_domain(hosted_zone_id="Z123ABC", hosted_zone_name="example.com")
    )
    template = template_of(config)
    template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {"Name": "auth.example.com.", "Type": "A", "HostedZoneId": "Z123ABC"},
    )
    found = template.find_outputs("*")
    assert found["SamlReplyUrl"]["Value"] == "https://auth.example.com/saml2/idpresponse"


def test_custom_domain_without_a_zone_makes_no_record() -> None:
    template_of(config_with(domain=custom_domain())).resource_count_is("AWS::Route53::RecordSet", 0)


def test_domain_outside_the_zone_is_refused() -> None:
    assert problems_for(
        domain=custom_domain(hosted_zone_id="Z123ABC", hosted_zone_name="example.org")
    ) == ["domain.custom: auth.example.com is not inside the zone example.org"]


def identity_pool(**settings: Any) -> dict[str, Any]:
    statement = {
        "actions": ["s3:GetObject"],
        "resources": ["arn:aws:s3:::app-data/${cognito-identity.amazonaws.com:sub}/*"],
    }
    return {"statements": [statement], **settings}


def test_identity_pool_is_opt_in(example_template: Template) -> None:
    example_template.resource_count_is("AWS::Cognito::IdentityPool", 0)


def test_identity_pool_trusts_every_client_and_allows_no_guests() -> None:
    template = template_of(config_with(identity_pool=identity_pool()))
    (pool,) = template.find_resources("AWS::Cognito::IdentityPool").values()
    properties = pool["Properties"]
    assert properties["AllowUnauthenticatedIdentities"] is False
    assert properties["AllowClassicFlow"] is False
    assert len(properties["CognitoIdentityProviders"]) == 2


def test_authenticated_role_gets_only_the_configured_statements() -> None:
    template = template_of(config_with(identity_pool=identity_pool()))
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "s3:" in json.dumps(statement["Action"])
    ]
    assert statements == [
        {
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": "arn:aws:s3:::app-data/${cognito-identity.amazonaws.com:sub}/*",
        }
    ]


def test_identity_pool_id_is_an_output() -> None:
    found = template_of(config_with(identity_pool=identity_pool())).find_outputs("*")
    assert "Ref" in found["IdentityPoolId"]["Value"]


def test_group_rules_map_claims_to_roles() -> None:
    rules = [{"value": "aaaaaaaa-0000-4000-8000-000000000001", "role_arn": ROLE}]
    template = template_of(config_with(identity_pool=identity_pool(role_rules=rules)))
    (attachment,) = template.find_resources("AWS::Cognito::IdentityPoolRoleAttachment").values()
    mapping = next(iter(attachment["Properties"]["RoleMappings"].values()))
    assert mapping["Type"] == "Rules"
    assert mapping["AmbiguousRoleResolution"] == "AuthenticatedRole"
    assert mapping["RulesConfiguration"]["Rules"] == [
        {
            "Claim": "cognito:groups",
            "MatchType": "Contains",
            "RoleARN": ROLE,
            "Value": "aaaaaaaa-0000-4000-8000-000000000001",
        }
    ]


@pytest.mark.parametrize("action", ["*", "s3:*"])
def test_identity_pool_refuses_wildcard_actions(action: str) -> None:
    pool = {"statements": [{"actions": [action], "resources": ["arn:aws:s3:::b/*"]}]}
    assert problems_for(identity_pool=pool) == [
        f"identity_pool.statements[0].actions[0]: {action!r}: expected one IAM action such as "
        "s3:GetObject (service:Action); '*' and 'service:*' are refused: federated users get "
        "least privilege"
    ]


def test_identity_pool_refuses_a_wildcard_resource() -> None:
    pool = {"statements": [{"actions": ["s3:GetObject"], "resources": ["*"]}]}
    assert problems_for(identity_pool=pool) == [
        "identity_pool.statements[0].resources[0]: '*': expected a resource ARN such as "
        "arn:aws:s3:::my-bucket/${cognito-identity.amazonaws.com:sub}/*; '*' is refused"
    ]


def test_every_option_at_once_passes_cdk_nag_and_cfn_lint(tmp_path: Path) -> None:
    from tests.test_stack import lint_template, synth_to  # noqa: PLC0415

    data = example_data()
    data["entra"][0].update(
        idp_initiated=True, idp_initiated_client="ios", idp_signout=True, sign_requests=True
    )
    data["domain"] = custom_domain(hosted_zone_id="Z123ABC", hosted_zone_name="example.com")
    data["domain"]["managed_login_version"] = 2
    data["identity_pool"] = identity_pool(role_rules=[{"value": "admins", "role_arn": ROLE}])
    template = synth_to(tmp_path, parse_config(data, "all.yaml"), nag=True)
    assert lint_template(template) == ""
