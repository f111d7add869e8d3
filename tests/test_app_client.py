"""The app client construct: explicit, least-permissive OAuth settings."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk.assertions import Match, Template

from sso_constructs import SsoAppClient


def client_template(**props: object) -> Template:
    stack = cdk.Stack(cdk.App(), "Test")
    pool = cognito.UserPool(stack, "Pool")
    defaults: dict[str, object] = {
        "client_name": "ios",
        "callback_urls": ["myapp://callback"],
        "sign_out_urls": ["myapp://signout"],
        "scopes": ["openid", "email"],
    }
    defaults.update(props)
    SsoAppClient(stack, "Client", user_pool=pool, **defaults)  # type: ignore[arg-type]
    return Template.from_stack(stack)


def test_default_client_is_public_with_code_grant_only() -> None:
    client_template().has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthFlowsUserPoolClient": True,
        },
    )


def test_only_the_configured_scopes_and_urls_are_allowed() -> None:
    client_template().has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "AllowedOAuthScopes": ["openid", "email"],
            "CallbackURLs": ["myapp://callback"],
            "LogoutURLs": ["myapp://signout"],
        },
    )


def test_only_refresh_token_auth_is_allowed_outside_the_hosted_ui() -> None:
    client_template().has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"]},
    )


def test_no_identity_provider_is_offered_unless_given() -> None:
    client_template().has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"SupportedIdentityProviders": []}
    )


def test_given_identity_providers_are_offered() -> None:
    client_template(
        identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO]
    ).has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"SupportedIdentityProviders": ["COGNITO"]}
    )


def test_implicit_grant_only_when_asked() -> None:
    client_template(implicit_grant=True).has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"AllowedOAuthFlows": ["implicit", "code"]}
    )


def test_custom_resource_server_scope_passes_through() -> None:
    client_template(scopes=["openid", "api/read"]).has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"AllowedOAuthScopes": ["openid", "api/read"]}
    )


def test_token_validity_is_explicit() -> None:
    client_template(
        id_token_validity=cdk.Duration.minutes(15),
        access_token_validity=cdk.Duration.minutes(30),
        refresh_token_validity=cdk.Duration.days(7),
    ).has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"IdTokenValidity": 15, "AccessTokenValidity": 30, "RefreshTokenValidity": 10080},
    )


def test_generated_secret_is_stored_in_secrets_manager() -> None:
    template = client_template(generate_secret=True)
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"GenerateSecret": True})
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"SecretString": Match.object_like({"Fn::GetAtt": Match.any_value()})},
    )


def test_no_secret_resource_without_generate_secret() -> None:
    client_template().resource_count_is("AWS::SecretsManager::Secret", 0)


def test_client_without_callback_is_refused() -> None:
    with pytest.raises(ValueError, match="needs at least one callback URL"):
        client_template(callback_urls=[])
