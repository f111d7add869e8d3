"""The environment stack: wiring, outputs, stable ids, determinism, linters."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from mobile_sso import outputs
from mobile_sso.config import EnvironmentConfig, load_config
from tests.conftest import build_stack, cdk_app, example_data, make_config, template_of

ConfigWith = Callable[..., EnvironmentConfig]


def synth_to(outdir: Path, config: EnvironmentConfig, *, nag: bool = False) -> Path:
    app = cdk_app(outdir=str(outdir))
    build_stack(config, app)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return outdir / f"{config.stack_name}.template.json"


def secret_client_config() -> EnvironmentConfig:
    data = example_data()
    data["clients"].append(
        {
            "name": "web",
            "platform": "web",
            "callback_urls": ["https://app.example.com/callback"],
            "sign_out_urls": ["https://app.example.com/"],
            "oauth_flows": ["authorization_code", "implicit"],
            "generate_secret": True,
        }
    )
    return make_config(clients=data["clients"])


def test_user_pool_logical_id_is_pinned(example_template: Template) -> None:
    # A changed logical id makes CloudFormation replace the pool and lose every user.
    assert list(example_template.find_resources("AWS::Cognito::UserPool")) == ["UserPool335E89E8"]


def test_domain_and_client_logical_ids_are_pinned(example_template: Template) -> None:
    assert list(example_template.find_resources("AWS::Cognito::UserPoolDomain")) == [
        "UserPoolDomainE61DE3A0"
    ]
    assert sorted(example_template.find_resources("AWS::Cognito::UserPoolClient")) == [
        "Clientandroid064EFD0A",
        "ClientiosFFD16538",
    ]


def test_one_client_per_config_entry(example_template: Template) -> None:
    for name in ("ios", "android"):
        example_template.has_resource_properties(
            "AWS::Cognito::UserPoolClient",
            {
                "ClientName": name,
                "CallbackURLs": ["com.example.mobilesso://callback"],
                "LogoutURLs": ["com.example.mobilesso://signout"],
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", "profile"],
                "GenerateSecret": False,
            },
        )


def test_output_names_are_the_documented_contract(example_template: Template) -> None:
    expected = {
        "Region",
        "UserPoolId",
        "UserPoolArn",
        "CognitoDomain",
        "HostedUiUrl",
        "SamlEntityId",
        "SamlReplyUrl",
        "SamlSignOutUrl",
        "ClientNames",
        "IdentityProviderNames",
        "IdpEntraIDTenantId",
        "IdpEntraIDEntraAppId",
        "IdpEntraIDMetadataUrl",
    }
    fields = (
        "Id",
        "Platform",
        "IdentityProviders",
        "CallbackUrls",
        "SignOutUrls",
        "Scopes",
        "OAuthFlows",
    )
    for client in ("Ios", "Android"):
        expected |= {f"Client{client}{field}" for field in fields}
    assert set(example_template.find_outputs("*")) == expected


def test_outputs_carry_the_values_a_mobile_build_needs(example_template: Template) -> None:
    found = example_template.find_outputs("*")
    pool_ref = {"Ref": "UserPool335E89E8"}
    assert found[outputs.REGION]["Value"] == "eu-west-1"
    assert found[outputs.USER_POOL_ID]["Value"] == pool_ref
    domain = "mobile-sso-example-7f3a.auth.eu-west-1.amazoncognito.com"
    assert found[outputs.COGNITO_DOMAIN]["Value"] == domain
    assert found[outputs.HOSTED_UI_URL]["Value"] == f"https://{domain}"
    assert found[outputs.SAML_ENTITY_ID]["Value"] == {
        "Fn::Join": ["", ["urn:amazon:cognito:sp:", pool_ref]]
    }
    assert found[outputs.SAML_REPLY_URL]["Value"] == f"https://{domain}/saml2/idpresponse"
    assert found[outputs.SAML_SIGN_OUT_URL]["Value"] == f"https://{domain}/saml2/logout"
    assert found[outputs.CLIENT_NAMES]["Value"] == "ios,android"
    assert found["ClientIosId"]["Value"] == {"Ref": "ClientiosFFD16538"}
    assert found["ClientIosCallbackUrls"]["Value"] == "com.example.mobilesso://callback"
    assert found["ClientIosScopes"]["Value"] == "openid,email,profile"
    assert found["ClientIosOAuthFlows"]["Value"] == "authorization_code"
    assert found["ClientIosPlatform"]["Value"] == "ios"


def test_client_secret_is_kept_in_secrets_manager_and_only_its_arn_is_output() -> None:
    template = template_of(secret_client_config())
    secrets = template.find_resources("AWS::SecretsManager::Secret")
    assert len(secrets) == 1
    secret_id = next(iter(secrets))
    found = template.find_outputs("*")
    assert found["ClientWebSecretArn"]["Value"] == {"Ref": secret_id}
    (lookup_id,) = template.find_resources("Custom::DescribeCognitoUserPoolClient")
    assert lookup_id not in json.dumps(found), "an output reads the secret itself"


def test_client_secret_lookup_does_not_log_the_response() -> None:
    template = template_of(secret_client_config())
    (lookup,) = template.find_resources("Custom::DescribeCognitoUserPoolClient").values()
    create_call = "".join(
        p for p in lookup["Properties"]["Create"]["Fn::Join"][1] if isinstance(p, str)
    )
    assert '"logApiResponseData":false' in create_call


def test_client_secret_lookup_function_gets_no_log_group_named_by_the_template() -> None:
    """Lambda made `/aws/lambda/<function>` when a deployed stack's lookup ran: a template that
    names it too fails the update with AlreadyExists (useCdkManagedLogGroup, docs/FEATURE-FLAGS.md).
    """
    template = template_of(secret_client_config())
    (lookup,) = template.find_resources("Custom::DescribeCognitoUserPoolClient").values()
    function_id = lookup["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    assert function_id in template.find_resources("AWS::Lambda::Function")
    assert function_id not in json.dumps(template.find_resources("AWS::Logs::LogGroup"))


def test_implicit_grant_only_for_the_client_that_asks() -> None:
    template = template_of(secret_client_config())
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ClientName": "web", "AllowedOAuthFlows": ["implicit", "code"]},
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"ClientName": "ios", "AllowedOAuthFlows": ["code"]}
    )


def test_custom_domain_outputs_follow_the_custom_domain(config_with: ConfigWith) -> None:
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    config = config_with(
        domain={"custom": {"domain_name": "auth.example.com", "certificate_arn": arn}}
    )
    found = template_of(config).find_outputs("*")
    assert found[outputs.COGNITO_DOMAIN]["Value"] == "auth.example.com"
    assert found[outputs.SAML_REPLY_URL]["Value"] == "https://auth.example.com/saml2/idpresponse"


def test_production_pool_is_protected_and_retained(config_with: ConfigWith) -> None:
    template_of(config_with(stage="prod")).has_resource(
        "AWS::Cognito::UserPool",
        {
            "Properties": Match.object_like({"DeletionProtection": "ACTIVE"}),
            "DeletionPolicy": "Retain",
        },
    )


def test_config_tags_reach_the_user_pool(example_template: Template) -> None:
    example_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {"UserPoolTags": {"project": "cognito-entra-sso", "environment": "example"}},
    )


def test_config_tags_are_the_cloudformation_stacks_own_tags() -> None:
    """Stack tags, which CloudFormation puts on every taggable resource, are set explicitly
    (explicitStackTags: `Tags.of(stack)` reaches only the template's resources)."""
    config = load_config("example")
    app = cdk_app()
    build_stack(config, app)
    stack = app.synth().get_stack_by_name(config.stack_name)
    assert stack.tags == {"project": "cognito-entra-sso", "environment": "example"}


def test_cognito_users_offered_only_when_asked(config_with: ConfigWith) -> None:
    data = example_data()
    data["clients"][0]["allow_cognito_users"] = True
    template = template_of(config_with(clients=data["clients"]))
    entra = {"Ref": "EntraIdpEntraID013A6CB0"}
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ClientName": "ios", "SupportedIdentityProviders": [entra, "COGNITO"]},
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ClientName": "android", "SupportedIdentityProviders": [entra]},
    )


def test_two_synths_give_byte_identical_templates(tmp_path: Path) -> None:
    config = secret_client_config()
    first = synth_to(tmp_path / "a", config)
    second = synth_to(tmp_path / "b", config)
    assert first.read_bytes() == second.read_bytes()
    assets = f"{config.stack_name}.assets.json"
    assert (tmp_path / "a" / assets).read_bytes() == (tmp_path / "b" / assets).read_bytes()


@pytest.mark.parametrize("env", ["example", "example-multitenant"])
def test_cdk_nag_finds_nothing_unacknowledged_in_the_examples(tmp_path: Path, env: str) -> None:
    synth_to(tmp_path, load_config(env), nag=True)  # raises on any finding
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_cdk_nag_finds_nothing_unacknowledged(tmp_path: Path) -> None:
    synth_to(tmp_path, secret_client_config(), nag=True)  # raises on any finding
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_every_nag_acknowledgment_has_a_reason(tmp_path: Path) -> None:
    config = secret_client_config()
    synth_to(tmp_path, config, nag=True)
    metadata = json.loads((tmp_path / f"{config.stack_name}.metadata.json").read_text())
    acknowledged: dict[str, str] = {}
    for entries in metadata.values():
        for entry in entries:
            if entry["type"] == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged.update(entry["data"])
    assert acknowledged, "expected the acknowledgments to be recorded"
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 8, f"{rule} needs a real reason, got {reason!r}"


# cfn-lint exit codes are a bitmask: 2 = error, 4 = warning, 8 = informational.
# Ignored rules, each for a reason:
#   W3005: CDK adds DependsOn that cfn-lint finds redundant; harmless.
CFN_LINT_IGNORED = ["W3005"]


@pytest.mark.parametrize("variant", ["example", "secret-client", "prod", "multitenant"])
def test_cfn_lint_passes_on_synthesized_templates(tmp_path: Path, variant: str) -> None:
    configs: dict[str, Any] = {
        "example": lambda: load_config("example"),
        "secret-client": secret_client_config,
        "prod": lambda: make_config(stage="prod"),
        "multitenant": lambda: load_config("example-multitenant"),
    }
    template = synth_to(tmp_path, configs[variant]())
    assert lint_template(template) == ""


def lint_template(template: Path) -> str:
    """cfn-lint's findings on a template ("" when clean)."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            str(cfn_lint),
            "--format",
            "parseable",
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--",
            str(template),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr
