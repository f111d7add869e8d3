"""`mobile-sso export`: mobile build configs from the stack's outputs.

The recorded outputs file (fixtures/outputs/) is what `cdk deploy --outputs-file` writes
for the example stack; the golden files (fixtures/export/) are the app client `ios` in
each format. The same outputs are also read through CloudFormation's DescribeStacks in
moto, whose CloudFormation makes no Cognito resources: its stack holds a topic and the
outputs as literal values.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import jsonschema
import pytest
from aws_cdk.assertions import Template
from botocore.exceptions import ClientError, NoCredentialsError  # type: ignore[import-untyped]
from moto import mock_aws
from typer.testing import CliRunner

from mobile_sso import export
from mobile_sso.cli import app
from mobile_sso.export import ExportError, ExportFormat
from mobile_sso.outputs import client_output_key

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = FIXTURES / "outputs" / "cdk-outputs-example.json"
SCHEMA = FIXTURES / "schemas" / "amplify_outputs.schema_v1.5.json"
STACK = "MobileSso-Example"
REGION = "eu-west-1"
GOLDEN = {
    ExportFormat.AMPLIFY_OUTPUTS: FIXTURES / "export" / "amplify-outputs.json",
    ExportFormat.AMPLIFY_DART: FIXTURES / "export" / "amplify_outputs.dart",
    ExportFormat.AMPLIFY_CONFIGURATION: FIXTURES / "export" / "amplifyconfiguration.json",
    ExportFormat.AWS_CONFIGURATION: FIXTURES / "export" / "awsconfiguration.json",
    ExportFormat.ENV: FIXTURES / "export" / "env.env",
    ExportFormat.XCCONFIG: FIXTURES / "export" / "xcconfig.xcconfig",
}
IDP_FORMATS = [f for f in ExportFormat if f.names_identity_provider]
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ClientIosSecret-AbCdEf"

DART_CONSTANT = re.compile(r"const amplifyConfig = r'''(.*)''';\n", re.DOTALL)

runner = CliRunner()


# --- helpers -----------------------------------------------------------------------


def recorded() -> dict[str, str]:
    """The example stack's outputs, as a fresh dict a test may change."""
    outputs: dict[str, str] = json.loads(RECORDED.read_text())[STACK]
    return outputs


def outputs_file(tmp_path: Path, outputs: dict[str, str], stack: str = STACK) -> Path:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps({stack: outputs}))
    return path


def run(*args: str) -> Any:
    return runner.invoke(app, ["export", *args])


def run_file(path: Path, fmt: ExportFormat | str, *args: str) -> Any:
    return run("--outputs-file", str(path), "--format", str(fmt), *args)


def fields(fmt: ExportFormat, text: str) -> dict[str, Any]:
    """A config as {path: value}, so a comparison names the field that differs."""
    if fmt is ExportFormat.ENV:
        return dict(line.split("=", 1) for line in text.splitlines())
    if fmt is ExportFormat.XCCONFIG:
        return dict(line.split(" = ", 1) for line in text.splitlines())
    if fmt is ExportFormat.AMPLIFY_DART:
        return flatten(json.loads(dart_json(text)))
    return flatten(json.loads(text))


def dart_json(text: str) -> str:
    """The JSON inside `const amplifyConfig = r'''...''';`, as Amplify Flutter reads it."""
    match = DART_CONSTANT.fullmatch(text)
    assert match, f"not an amplifyConfig raw-string constant: {text[:80]!r}"
    return match.group(1)


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return {
            k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}").items()
        }
    if isinstance(value, list) and value:
        return {
            k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()
        }
    return {path or ".": value}


def golden(fmt: ExportFormat) -> dict[str, Any]:
    return fields(fmt, GOLDEN[fmt].read_text())


def amplify_outputs(outputs: dict[str, str]) -> dict[str, Any]:
    """The `ios` client's amplify_outputs.json, parsed."""
    document: dict[str, Any] = json.loads(
        export.render(ExportFormat.AMPLIFY_OUTPUTS, outputs, client="ios").text
    )
    return document


@pytest.fixture
def deployed_stack() -> Iterator[None]:
    """The example stack's outputs in moto's CloudFormation."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in recorded().items()},
    }
    with mock_aws():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        yield


# --- every format, from both sources ---------------------------------------------


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_from_outputs_file_matches_the_golden_file(fmt: ExportFormat) -> None:
    result = run_file(RECORDED, fmt, "--client", "ios")
    assert result.exit_code == 0, result.stderr
    assert fields(fmt, result.stdout) == golden(fmt)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_from_cloudformation_matches_the_golden_file(
    fmt: ExportFormat, deployed_stack: None
) -> None:
    result = run("--stack", STACK, "--region", REGION, "--client", "ios", "--format", str(fmt))
    assert result.exit_code == 0, result.stderr
    assert fields(fmt, result.stdout) == golden(fmt)


def test_amplify_outputs_is_valid_against_the_published_schema() -> None:
    document = json.loads(GOLDEN[ExportFormat.AMPLIFY_OUTPUTS].read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)


def test_amplify_dart_embeds_the_json_formats_document_byte_for_byte() -> None:
    dart = export.render(ExportFormat.AMPLIFY_DART, recorded(), client="ios").text
    json_format = export.render(ExportFormat.AMPLIFY_OUTPUTS, recorded(), client="ios").text

    assert dart_json(dart) + "\n" == json_format


def test_amplify_dart_embeds_a_schema_valid_document() -> None:
    document = json.loads(dart_json(GOLDEN[ExportFormat.AMPLIFY_DART].read_text()))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)


def test_amplify_dart_spells_a_triple_quote_so_the_raw_string_still_closes() -> None:
    outputs = recorded()
    key = client_output_key("ios", "CallbackUrls")
    outputs[key] = "myapp://cb?x='''y"

    text = export.render(ExportFormat.AMPLIFY_DART, outputs, client="ios").text

    assert text.count("'''") == 2
    document = json.loads(dart_json(text))
    assert document["auth"]["oauth"]["redirect_sign_in_uri"] == ["myapp://cb?x='''y"]


def test_amplify_outputs_keeps_the_saml_provider_out_of_oauth_and_in_custom() -> None:
    document = amplify_outputs(recorded())
    assert document["auth"]["oauth"]["identity_providers"] == []
    assert document["custom"] == {"mobile_sso": {"identity_providers": ["EntraID"]}}


def test_amplify_formats_print_how_apps_pass_the_provider_at_sign_in() -> None:
    result = run_file(RECORDED, ExportFormat.AMPLIFY_CONFIGURATION, "--client", "ios")
    assert 'signInWithWebUI(for: .saml("EntraID")' in result.stderr
    assert 'AuthProvider.custom("EntraID")' in result.stderr
    assert 'AuthProvider.saml("EntraID")' in result.stderr
    assert "EntraID" not in result.stdout


def test_out_writes_the_file_and_nothing_to_standard_output(tmp_path: Path) -> None:
    target = tmp_path / "amplify_outputs.json"
    result = run_file(
        RECORDED, ExportFormat.AMPLIFY_OUTPUTS, "--client", "ios", "--out", str(target)
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert fields(ExportFormat.AMPLIFY_OUTPUTS, target.read_text()) == golden(
        ExportFormat.AMPLIFY_OUTPUTS
    )


@pytest.mark.synth
def test_recorded_outputs_mirror_the_synthesized_example_stack(
    example_template: Template,
) -> None:
    """Every output export reads exists in the stack, and every recorded value the
    template spells out (not a deploy-time id) is the template's."""
    synthesized = example_template.find_outputs("*")
    client_fields = ("Id", "IdentityProviders", "CallbackUrls", "SignOutUrls", "Scopes")
    read = ["Region", "UserPoolId", "CognitoDomain", "ClientNames"] + [
        client_output_key(name, field)
        for name in export.parse_stack(recorded()).client_names
        for field in (*client_fields, "OAuthFlows")
    ]
    assert set(read) <= set(synthesized)
    literal = {k: v["Value"] for k, v in synthesized.items() if isinstance(v["Value"], str)}
    both = literal.keys() & recorded().keys()
    assert {k: recorded()[k] for k in both} == {k: literal[k] for k in both}


# --- what goes into the configs ----------------------------------------------------


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_client_secret_is_never_written_and_a_warning_says_why(
    fmt: ExportFormat, tmp_path: Path
) -> None:
    path = outputs_file(tmp_path, recorded() | {"ClientIosSecretArn": SECRET_ARN})
    result = run_file(path, fmt, "--client", "ios")
    assert result.exit_code == 0
    assert SECRET_ARN not in result.stdout
    assert "Secret" not in result.stdout
    assert "warning: app client 'ios' has a client secret; it is not written here" in (
        result.stderr
    )


def test_only_client_needs_no_client_option(tmp_path: Path) -> None:
    outputs = {k: v for k, v in recorded().items() if not k.startswith("ClientAndroid")}
    result = run_file(outputs_file(tmp_path, outputs | {"ClientNames": "ios"}), "env")
    assert result.exit_code == 0
    assert "COGNITO_APP_CLIENT_ID=5r1tq2bq8m0c6e9u7h3k4j1n2p" in result.stdout


def test_stack_option_picks_one_stack_of_an_outputs_file(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    other = recorded() | {"UserPoolId": "eu-west-1_Other0000"}
    path.write_text(json.dumps({"MobileSso-Other": other, STACK: recorded()}))
    result = run_file(path, "env", "--stack", STACK, "--client", "ios")
    assert result.exit_code == 0
    assert "COGNITO_USER_POOL_ID=eu-west-1_Qw3RtY7uP" in result.stdout


def test_response_type_is_token_only_for_a_client_with_implicit_and_not_code() -> None:
    implicit_only = recorded() | {"ClientIosOAuthFlows": "implicit"}
    both = recorded() | {"ClientIosOAuthFlows": "authorization_code,implicit"}
    assert amplify_outputs(implicit_only)["auth"]["oauth"]["response_type"] == "token"
    assert amplify_outputs(both)["auth"]["oauth"]["response_type"] == "code"


def test_amplify_formats_warn_when_the_client_lacks_the_code_grant(tmp_path: Path) -> None:
    path = outputs_file(tmp_path, recorded() | {"ClientIosOAuthFlows": "implicit"})
    result = run_file(path, ExportFormat.AMPLIFY_OUTPUTS, "--client", "ios")
    assert result.exit_code == 0
    assert "does not allow the authorization code grant" in result.stderr


def test_single_uri_formats_take_the_app_scheme_redirect_before_a_web_one() -> None:
    outputs = recorded() | {
        "ClientIosCallbackUrls": "http://localhost:3000/cb,com.example.mobilesso://callback"
    }
    config = json.loads(export.render(ExportFormat.AWS_CONFIGURATION, outputs, client="ios").text)
    assert config["Auth"]["Default"]["OAuth"]["SignInRedirectURI"] == (
        "com.example.mobilesso://callback"
    )
    # Amplify Swift signs in with the first of the list.
    assert amplify_outputs(outputs)["auth"]["oauth"]["redirect_sign_in_uri"] == [
        "com.example.mobilesso://callback",
        "http://localhost:3000/cb",
    ]


def test_identity_pool_is_carried_when_the_stack_has_one() -> None:
    outputs = recorded() | {"IdentityPoolId": "eu-west-1:8d3f1c2a-5b6e-4f70-9a81-0c2d3e4f5a6b"}
    document = amplify_outputs(outputs)
    assert document["auth"]["identity_pool_id"] == outputs["IdentityPoolId"]
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)
    gen1 = json.loads(export.render(ExportFormat.AMPLIFY_CONFIGURATION, outputs, client="ios").text)
    plugin = gen1["auth"]["plugins"]["awsCognitoAuthPlugin"]
    assert plugin["CredentialsProvider"]["CognitoIdentity"]["Default"] == {
        "PoolId": outputs["IdentityPoolId"],
        "Region": REGION,
    }


def test_identity_provider_option_picks_one_of_several() -> None:
    outputs = recorded() | {"ClientIosIdentityProviders": "Contoso,Fabrikam,COGNITO"}
    text = export.render(ExportFormat.ENV, outputs, client="ios", identity_provider="Fabrikam").text
    assert "COGNITO_IDENTITY_PROVIDER=Fabrikam\n" in text


def test_env_quotes_only_values_a_shell_would_change() -> None:
    assert export.env_value("com.example.mobilesso://callback") == (
        "com.example.mobilesso://callback"
    )
    assert export.env_value("https://app.example.com/cb?a=1&b=it's") == (
        "'https://app.example.com/cb?a=1&b=it'\\''s'"
    )


def test_env_file_reads_back_unchanged_in_a_posix_shell(tmp_path: Path) -> None:
    tricky = "https://app.example.com/cb?a=1&b=it's ~me $HOME"
    outputs = recorded() | {"ClientIosCallbackUrls": tricky}
    path = tmp_path / "cognito.env"
    path.write_text(export.render(ExportFormat.ENV, outputs, client="ios").text)
    script = '. "$1" && printf "%s|%s" "$COGNITO_REDIRECT_SIGN_IN" "$COGNITO_SCOPES"'
    sh = shutil.which("sh")
    assert sh is not None
    shell = subprocess.run(  # noqa: S603 - fixed arguments
        [sh, "-c", script, "sh", str(path)], capture_output=True, text=True, check=True
    )
    assert shell.stdout == f"{tricky}|openid,email,profile"


def test_xcconfig_breaks_double_slashes_that_xcode_would_read_as_a_comment() -> None:
    assert export.xcconfig_value("com.example.mobilesso://callback") == (
        "com.example.mobilesso:/$()/callback"
    )


# --- failures: exit 1, and a message naming what to fix ------------------------------


def test_missing_stack_output_is_named(tmp_path: Path) -> None:
    outputs = recorded()
    del outputs["UserPoolId"]
    result = run_file(outputs_file(tmp_path, outputs), "env", "--client", "ios")
    assert result.exit_code == 1
    assert "error: missing stack output: UserPoolId" in result.stderr


def test_missing_client_outputs_are_named_together(tmp_path: Path) -> None:
    outputs = recorded()
    del outputs["ClientIosScopes"], outputs["ClientIosId"]
    result = run_file(outputs_file(tmp_path, outputs), "env", "--client", "ios")
    assert result.exit_code == 1
    assert "error: missing stack outputs: ClientIosId, ClientIosScopes" in result.stderr


def test_unknown_client_lists_the_known_ones() -> None:
    result = run_file(RECORDED, "env", "--client", "web")
    assert result.exit_code == 1
    assert "error: no app client 'web' in the stack outputs; known: ios, android" in (result.stderr)


def test_several_clients_need_the_client_option() -> None:
    result = run_file(RECORDED, "env")
    assert result.exit_code == 1
    assert "the stack has several app clients (ios, android); pass --client NAME" in (result.stderr)


@pytest.mark.parametrize("fmt", IDP_FORMATS)
def test_format_naming_the_idp_fails_for_a_client_without_entra(
    fmt: ExportFormat, tmp_path: Path
) -> None:
    path = outputs_file(tmp_path, recorded() | {"ClientIosIdentityProviders": "COGNITO"})
    result = run_file(path, fmt, "--client", "ios")
    assert result.exit_code == 1
    assert (
        "error: app client 'ios' does not offer an Entra ID identity provider "
        f"(ClientIosIdentityProviders: COGNITO), and the {fmt} format names the one apps "
        "sign in with"
    ) in result.stderr


def test_amplify_formats_accept_a_client_without_entra(tmp_path: Path) -> None:
    path = outputs_file(tmp_path, recorded() | {"ClientIosIdentityProviders": "none"})
    result = run_file(path, ExportFormat.AMPLIFY_OUTPUTS, "--client", "ios")
    assert result.exit_code == 0
    assert "custom" not in json.loads(result.stdout)


def test_several_providers_need_the_identity_provider_option(tmp_path: Path) -> None:
    path = outputs_file(tmp_path, recorded() | {"ClientIosIdentityProviders": "Contoso,Fabrikam"})
    result = run_file(path, ExportFormat.AWS_CONFIGURATION, "--client", "ios")
    assert result.exit_code == 1
    assert (
        "app client 'ios' offers several identity providers (Contoso, Fabrikam); the "
        "awsconfiguration format names one: pass --identity-provider NAME"
    ) in result.stderr


def test_identity_provider_the_client_does_not_offer_is_refused() -> None:
    result = run_file(RECORDED, "env", "--client", "ios", "--identity-provider", "Contoso")
    assert result.exit_code == 1
    assert (
        "error: app client 'ios' does not offer the identity provider 'Contoso'; it offers: EntraID"
    ) in result.stderr


def test_domain_with_a_scheme_is_refused(tmp_path: Path) -> None:
    outputs = recorded() | {"CognitoDomain": "https://auth.example.com"}
    result = run_file(outputs_file(tmp_path, outputs), "env", "--client", "ios")
    assert result.exit_code == 1
    assert "output CognitoDomain: 'https://auth.example.com': expected a host name" in (
        result.stderr
    )


def test_unreadable_outputs_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "cdk-outputs-prod.json"
    result = run_file(missing, "env")
    assert result.exit_code == 1
    assert f"error: {missing}: cannot read the file: No such file or directory" in result.stderr


def test_outputs_file_that_is_not_json_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text('{"MobileSso-Example": {')
    result = run_file(path, "env")
    assert result.exit_code == 1
    assert f"error: {path}: not valid JSON: Expecting property name" in result.stderr


def test_outputs_file_of_another_shape_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps({"Outputs": [{"OutputKey": "Region"}]}))
    result = run_file(path, "env")
    assert result.exit_code == 1
    assert f"error: {path}: not an outputs file: expected " in result.stderr
    assert "as `cdk deploy --outputs-file cdk-outputs.json` writes it" in result.stderr


def test_empty_outputs_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text("{}")
    result = run_file(path, "env")
    assert result.exit_code == 1
    assert f"error: {path}: holds no stack" in result.stderr


def test_outputs_file_of_several_stacks_needs_the_stack_option(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps({"MobileSso-Dev": recorded(), "MobileSso-Prod": recorded()}))
    result = run_file(path, "env", "--client", "ios")
    assert result.exit_code == 1
    assert (
        "holds the outputs of several stacks (MobileSso-Dev, MobileSso-Prod); "
        "pass --stack NAME to pick one"
    ) in result.stderr


def test_stack_missing_from_the_outputs_file_lists_those_present() -> None:
    result = run_file(RECORDED, "env", "--stack", "MobileSso-Prod", "--client", "ios")
    assert result.exit_code == 1
    assert f"error: {RECORDED}: has no stack 'MobileSso-Prod'; it holds: {STACK}" in (result.stderr)


def test_stack_missing_from_cloudformation_is_reported(deployed_stack: None) -> None:
    result = run("--stack", "MobileSso-Prod", "--region", REGION, "--format", "env")
    assert result.exit_code == 1
    assert "error: stack 'MobileSso-Prod' does not exist in eu-west-1" in result.stderr


def test_cloudformation_refusal_names_the_call_and_the_error_code() -> None:
    class Refusing:
        meta = SimpleNamespace(region_name=REGION)

        def describe_stacks(self, **_: str) -> dict[str, Any]:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
            raise ClientError(error, "DescribeStacks")

    with pytest.raises(ExportError) as raised:
        export.outputs_from_cloudformation(STACK, Refusing())
    assert str(raised.value) == (
        f"CloudFormation DescribeStacks '{STACK}' in eu-west-1 failed: AccessDenied: not authorized"
    )


def test_missing_aws_credentials_suggest_the_outputs_file() -> None:
    class Unsigned:
        meta = SimpleNamespace(region_name=REGION)

        def describe_stacks(self, **_: str) -> dict[str, Any]:
            raise NoCredentialsError

    with pytest.raises(ExportError, match=r"Unable to locate credentials.*--outputs-file"):
        export.outputs_from_cloudformation(STACK, Unsigned())


def test_missing_aws_region_asks_for_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    result = run("--stack", STACK, "--format", "env")
    assert result.exit_code == 1
    assert "error: no AWS region: pass --region" in result.stderr


def test_unwritable_out_path_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "amplify_outputs.json"
    result = run_file(RECORDED, "env", "--client", "ios", "--out", str(target))
    assert result.exit_code == 1
    assert f"error: {target}: cannot write the file: No such file or directory" in result.stderr


# --- bad usage: exit 2 ---------------------------------------------------------------


def test_without_outputs_file_or_stack_is_a_usage_error() -> None:
    result = run("--format", "env")
    assert result.exit_code == 2
    assert "give --outputs-file PATH or --stack NAME" in result.stderr


def test_region_with_an_outputs_file_is_a_usage_error() -> None:
    result = run_file(RECORDED, "env", "--region", REGION)
    assert result.exit_code == 2


def test_unknown_format_is_a_usage_error() -> None:
    result = run_file(RECORDED, "plist")
    assert result.exit_code == 2
