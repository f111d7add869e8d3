"""The user pool construct: who can sign in, and how the pool is protected."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_certificatemanager as acm
from aws_cdk.assertions import Match, Template

from sso_constructs import SsoUserPool

CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"


def pool_template(**props: object) -> Template:
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(region="eu-west-1"))
    defaults: dict[str, object] = {
        "user_pool_name": "pool",
        "deletion_protection": False,
        "removal_policy": cdk.RemovalPolicy.DESTROY,
        "domain_prefix": "my-login",
    }
    defaults.update(props)
    if defaults.get("custom_domain_name"):
        defaults["custom_domain_certificate"] = acm.Certificate.from_certificate_arn(
            stack, "Cert", CERT_ARN
        )
    SsoUserPool(stack, "UserPool", **defaults)  # type: ignore[arg-type]
    return Template.from_stack(stack)


def test_users_sign_in_by_email_without_self_sign_up() -> None:
    pool_template().has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "UsernameAttributes": ["email"],
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "UsernameConfiguration": {"CaseSensitive": False},
        },
    )


def test_email_is_required_and_mutable_for_federated_updates() -> None:
    pool_template().has_resource_properties(
        "AWS::Cognito::UserPool",
        {"Schema": Match.array_with([{"Name": "email", "Required": True, "Mutable": True}])},
    )


def test_protected_pool_is_retained() -> None:
    template = pool_template(deletion_protection=True, removal_policy=cdk.RemovalPolicy.RETAIN)
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "Properties": Match.object_like({"DeletionProtection": "ACTIVE"}),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_dev_pool_can_be_destroyed() -> None:
    pool_template().has_resource(
        "AWS::Cognito::UserPool",
        {
            "Properties": Match.object_like({"DeletionProtection": "INACTIVE"}),
            "DeletionPolicy": "Delete",
        },
    )


def test_prefix_domain_is_created() -> None:
    pool_template().has_resource_properties(
        "AWS::Cognito::UserPoolDomain",
        {"Domain": "my-login", "CustomDomainConfig": Match.absent()},
    )


def test_custom_domain_uses_the_certificate() -> None:
    template = pool_template(domain_prefix=None, custom_domain_name="auth.example.com")
    template.has_resource_properties(
        "AWS::Cognito::UserPoolDomain",
        {"Domain": "auth.example.com", "CustomDomainConfig": {"CertificateArn": CERT_ARN}},
    )


def test_pool_needs_exactly_one_kind_of_domain() -> None:
    with pytest.raises(ValueError, match="exactly one of domain_prefix or custom_domain_name"):
        pool_template(domain_prefix=None)


def test_saml_service_provider_values_follow_the_domain() -> None:
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(region="eu-west-1"))
    pool = SsoUserPool(
        stack,
        "UserPool",
        user_pool_name="pool",
        deletion_protection=False,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        domain_prefix="my-login",
    )
    assert pool.domain_name == "my-login.auth.eu-west-1.amazoncognito.com"
    assert (
        pool.saml_reply_url == "https://my-login.auth.eu-west-1.amazoncognito.com/saml2/idpresponse"
    )
    assert pool.saml_logout_url == "https://my-login.auth.eu-west-1.amazoncognito.com/saml2/logout"
    pool_ref = stack.resolve(pool.user_pool.user_pool_id)
    assert stack.resolve(pool.saml_entity_id) == {
        "Fn::Join": ["", ["urn:amazon:cognito:sp:", pool_ref]]
    }
