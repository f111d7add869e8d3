"""`mobile-sso export`: a mobile build config made from the stack's outputs.

Three steps. Read the outputs into a flat ``{OutputKey: value}`` dict, from the file
`cdk deploy --outputs-file` writes or from CloudFormation's DescribeStacks. Parse that
dict once into `StackOutputs` and the chosen `AppClientOutputs`. Render one format.
Only the reading touches files or AWS; parsing and rendering are pure.

A client secret is never written: only its ARN is an output, and no format reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from mobile_sso import outputs as keys
from mobile_sso.config import OAuthFlow

Outputs = Mapping[str, str]

COGNITO = "COGNITO"  # the pool's own users, as a client's IdentityProviders output lists them
NO_PROVIDERS = "none"  # a client's IdentityProviders output when it offers none
AUTHORIZATION_CODE = OAuthFlow.AUTHORIZATION_CODE.value
IMPLICIT = OAuthFlow.IMPLICIT.value
AMPLIFY_OUTPUTS_VERSION = "1.5"
# Where amplify_outputs.json keeps what Amplify has no field for (the schema's `custom`).
CUSTOM_KEY = "mobile_sso"


class ExportError(Exception):
    """The export cannot be made; the message says what to fix."""


class ExportFormat(StrEnum):
    """The config files `export` writes."""

    AMPLIFY_OUTPUTS = "amplify-outputs"
    AMPLIFY_DART = "amplify-dart"
    AMPLIFY_CONFIGURATION = "amplifyconfiguration"
    AWS_CONFIGURATION = "awsconfiguration"
    ENV = "env"
    XCCONFIG = "xcconfig"

    @property
    def names_identity_provider(self) -> bool:
        """Whether the format carries the one SAML provider the app signs in with."""
        return self in (ExportFormat.AWS_CONFIGURATION, ExportFormat.ENV, ExportFormat.XCCONFIG)

    @property
    def is_amplify(self) -> bool:
        return self in (
            ExportFormat.AMPLIFY_OUTPUTS,
            ExportFormat.AMPLIFY_DART,
            ExportFormat.AMPLIFY_CONFIGURATION,
        )


# --- reading ---------------------------------------------------------------------------


def outputs_from_file(path: Path, stack: str | None = None) -> dict[str, str]:
    """The outputs of one stack from a `cdk deploy --outputs-file` file.

    The file maps stack names to their outputs; `stack` picks one, and may be left out
    when the file holds a single stack.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ExportError(f"{path}: cannot read the file: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ExportError(f"{path}: cannot read the file: not UTF-8 text") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExportError(f"{path}: not valid JSON: {error}") from error
    if not _is_outputs_file(data):
        raise ExportError(
            f'{path}: not an outputs file: expected {{"<StackName>": {{"<OutputKey>": '
            f'"<value>", ...}}}}, as `cdk deploy --outputs-file {path.name}` writes it'
        )
    if not data:
        raise ExportError(f"{path}: holds no stack; deploy with --outputs-file to fill it")
    stacks = ", ".join(data)
    if stack is None:
        if len(data) > 1:
            raise ExportError(
                f"{path}: holds the outputs of several stacks ({stacks}); "
                "pass --stack NAME to pick one"
            )
        stack = next(iter(data))
    elif stack not in data:
        raise ExportError(f"{path}: has no stack {stack!r}; it holds: {stacks}")
    found: dict[str, str] = data[stack]
    return found


def _is_outputs_file(data: Any) -> bool:
    return isinstance(data, dict) and all(
        isinstance(values, dict) and all(isinstance(v, str) for v in values.values())
        for values in data.values()
    )


class _ClientMeta(Protocol):
    @property
    def region_name(self) -> str: ...


class CloudFormationClient(Protocol):
    """The part of boto3's CloudFormation client that export uses."""

    @property
    def meta(self) -> _ClientMeta: ...

    def describe_stacks(self, *, StackName: str) -> Mapping[str, Any]: ...


def _botocore_errors() -> Any:
    from botocore import exceptions  # type: ignore[import-untyped]  # noqa: PLC0415

    return exceptions


def cloudformation_client(region: str | None) -> CloudFormationClient:
    """A boto3 CloudFormation client, made only when a stack is read from AWS."""
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (slow import, rarely needed)

    try:
        client: CloudFormationClient = boto3.client("cloudformation", region_name=region)
    except _botocore_errors().NoRegionError as error:
        raise ExportError(
            "no AWS region: pass --region, or set AWS_REGION or a profile's region"
        ) from error
    return client


def outputs_from_cloudformation(stack: str, client: CloudFormationClient) -> dict[str, str]:
    """The outputs of a deployed stack, from CloudFormation's DescribeStacks."""
    errors = _botocore_errors()
    region = client.meta.region_name
    try:
        response = client.describe_stacks(StackName=stack)
    except errors.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code == "ValidationError" and "does not exist" in message:
            raise ExportError(
                f"stack {stack!r} does not exist in {region} (check --stack, --region and "
                "the AWS account of your credentials)"
            ) from error
        raise ExportError(
            f"CloudFormation DescribeStacks {stack!r} in {region} failed: {code}: {message}"
        ) from error
    except errors.BotoCoreError as error:
        raise ExportError(
            f"CloudFormation DescribeStacks {stack!r} in {region} failed: {error} "
            "(sign in to AWS, or export from a file with --outputs-file)"
        ) from error
    (found,) = response["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


# --- the typed model -----------------------------------------------------------------


@dataclass(frozen=True)
class StackOutputs:
    """The stack-wide outputs a mobile build needs."""

    region: str
    user_pool_id: str
    cognito_domain: str  # host, no scheme
    client_names: tuple[str, ...]
    identity_pool_id: str | None = None


@dataclass(frozen=True)
class AppClientOutputs:
    """The outputs of one app client."""

    name: str
    client_id: str
    identity_providers: tuple[str, ...]  # SAML provider names, and COGNITO for pool users
    callback_urls: tuple[str, ...]
    sign_out_urls: tuple[str, ...]
    scopes: tuple[str, ...]
    oauth_flows: tuple[str, ...]
    secret_arn: str | None = None

    @property
    def saml_providers(self) -> tuple[str, ...]:
        """The Entra ID (SAML) identity providers the client offers."""
        return tuple(p for p in self.identity_providers if p != COGNITO)

    @property
    def response_type(self) -> str:
        """The OAuth response type: the code grant whenever the client allows it."""
        if IMPLICIT in self.oauth_flows and AUTHORIZATION_CODE not in self.oauth_flows:
            return "token"
        return "code"

    @property
    def sign_in_redirect(self) -> str:
        return preferred_redirect(self.callback_urls)

    @property
    def sign_out_redirect(self) -> str:
        return preferred_redirect(self.sign_out_urls)


def preferred_redirect(urls: Sequence[str]) -> str:
    """The URL for formats that take one: the first app-scheme URL (`myapp://...`), else
    the first. Amplify Android picks the same way from a list; Swift takes the first."""
    for url in urls:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme and scheme not in ("http", "https"):
            return url
    return urls[0]


def _preferred_first(urls: Sequence[str]) -> list[str]:
    first = preferred_redirect(urls)
    return [first, *(u for u in urls if u != first)]


def parse_stack(outputs: Outputs) -> StackOutputs:
    """The stack-wide outputs, checked; every missing one is named at once."""
    _require(outputs, [keys.REGION, keys.USER_POOL_ID, keys.COGNITO_DOMAIN, keys.CLIENT_NAMES])
    domain = outputs[keys.COGNITO_DOMAIN]
    if "/" in domain or ":" in domain:
        raise ExportError(
            f"output {keys.COGNITO_DOMAIN}: {domain!r}: expected a host name without scheme "
            "or path, such as myprefix.auth.eu-west-1.amazoncognito.com"
        )
    return StackOutputs(
        region=outputs[keys.REGION],
        user_pool_id=outputs[keys.USER_POOL_ID],
        cognito_domain=domain,
        client_names=_split(outputs[keys.CLIENT_NAMES]),
        identity_pool_id=outputs.get(keys.IDENTITY_POOL_ID) or None,
    )


def select_client(stack: StackOutputs, requested: str | None) -> str:
    """The client to export: the one asked for, or the only one."""
    known = ", ".join(stack.client_names)
    if requested is None:
        if len(stack.client_names) != 1:
            raise ExportError(
                f"the stack has several app clients ({known}); pass --client NAME to pick one"
            )
        return stack.client_names[0]
    if requested not in stack.client_names:
        raise ExportError(f"no app client {requested!r} in the stack outputs; known: {known}")
    return requested


def parse_client(outputs: Outputs, name: str) -> AppClientOutputs:
    """One client's outputs, checked; every missing one is named at once."""

    def key(field: str) -> str:
        return keys.client_output_key(name, field)

    _require(
        outputs,
        [
            key(field)
            for field in (
                keys.CLIENT_ID,
                keys.CLIENT_IDENTITY_PROVIDERS,
                keys.CLIENT_CALLBACK_URLS,
                keys.CLIENT_SIGN_OUT_URLS,
                keys.CLIENT_SCOPES,
                keys.CLIENT_OAUTH_FLOWS,
            )
        ],
    )
    providers = outputs[key(keys.CLIENT_IDENTITY_PROVIDERS)]
    return AppClientOutputs(
        name=name,
        client_id=outputs[key(keys.CLIENT_ID)],
        identity_providers=() if providers == NO_PROVIDERS else _split(providers),
        callback_urls=_split(outputs[key(keys.CLIENT_CALLBACK_URLS)]),
        sign_out_urls=_split(outputs[key(keys.CLIENT_SIGN_OUT_URLS)]),
        scopes=_split(outputs[key(keys.CLIENT_SCOPES)]),
        oauth_flows=_split(outputs[key(keys.CLIENT_OAUTH_FLOWS)]),
        secret_arn=outputs.get(key(keys.CLIENT_SECRET_ARN)) or None,
    )


def _require(outputs: Outputs, required: list[str]) -> None:
    # A list of nothing but separators is as good as missing.
    missing = [k for k in required if not _split(outputs.get(k, ""))]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ExportError(
            f"missing stack output{plural}: {', '.join(missing)} (are these the outputs of a "
            "cognito-entra-sso stack, deployed to the end?)"
        )


def _split(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.split(keys.LIST_SEPARATOR) if item)


# --- the formats -----------------------------------------------------------------------

# Facts of the user pool construct, not outputs: email is the sign-in identifier, is
# required, and is verified by Cognito.
SIGN_IN_ATTRIBUTE = "email"
DART_QUOTES = "'''"


def amplify_outputs(
    stack: StackOutputs, client: AppClientOutputs, identity_providers: Sequence[str]
) -> dict[str, Any]:
    """Amplify Gen 2 `amplify_outputs.json` (schema version 1.5).

    `oauth.identity_providers` admits only the social providers, so the SAML provider
    names go under `custom`, which Amplify ignores and apps may read.
    """
    auth: dict[str, Any] = {
        "aws_region": stack.region,
        "user_pool_id": stack.user_pool_id,
        "user_pool_client_id": client.client_id,
    }
    if stack.identity_pool_id:
        auth["identity_pool_id"] = stack.identity_pool_id
    auth |= {
        "standard_required_attributes": [SIGN_IN_ATTRIBUTE],
        "username_attributes": [SIGN_IN_ATTRIBUTE],
        "user_verification_types": [SIGN_IN_ATTRIBUTE],
        "oauth": {
            "identity_providers": [],
            "domain": stack.cognito_domain,
            "scopes": list(client.scopes),
            # Amplify Swift signs in with the first of each list.
            "redirect_sign_in_uri": _preferred_first(client.callback_urls),
            "redirect_sign_out_uri": _preferred_first(client.sign_out_urls),
            "response_type": client.response_type,
        },
    }
    document: dict[str, Any] = {"version": AMPLIFY_OUTPUTS_VERSION, "auth": auth}
    if identity_providers:
        document["custom"] = {CUSTOM_KEY: {"identity_providers": list(identity_providers)}}
    return document


def dart_constant(document: str) -> str:
    """`lib/amplify_outputs.dart` as `ampx generate outputs --format dart` writes it: the JSON
    document in a raw Dart string (no `$` interpolation), named `amplifyConfig`
    (aws-amplify/amplify-backend: packages/client-config/src/client-config-writer/
    client_config_formatter_default.ts).

    A raw string cannot hold three quotes in a row; where a value has them, every quote is
    spelled as the JSON escape `\\u0027`, which leaves the document the same.
    """
    if DART_QUOTES in document:
        document = document.replace("'", "\\u0027")
    return f"const amplifyConfig = r{DART_QUOTES}{document}{DART_QUOTES};\n"


def _cognito_user_pool(stack: StackOutputs, client: AppClientOutputs) -> dict[str, Any]:
    return {
        "Default": {
            "PoolId": stack.user_pool_id,
            "AppClientId": client.client_id,
            "Region": stack.region,
        }
    }


def _credentials_provider(stack: StackOutputs) -> dict[str, Any]:
    if not stack.identity_pool_id:
        return {}
    pool = {"PoolId": stack.identity_pool_id, "Region": stack.region}
    return {"CredentialsProvider": {"CognitoIdentity": {"Default": pool}}}


def _oauth(stack: StackOutputs, client: AppClientOutputs) -> dict[str, Any]:
    # One redirect URI each: the mobile SDKs send the string as it is as redirect_uri.
    return {
        "WebDomain": stack.cognito_domain,
        "AppClientId": client.client_id,
        "SignInRedirectURI": client.sign_in_redirect,
        "SignOutRedirectURI": client.sign_out_redirect,
        "Scopes": list(client.scopes),
    }


def amplify_configuration(stack: StackOutputs, client: AppClientOutputs) -> dict[str, Any]:
    """Amplify Gen 1 `amplifyconfiguration.json`, the Cognito auth plugin's part."""
    plugin: dict[str, Any] = {
        "IdentityManager": {"Default": {}},
        **_credentials_provider(stack),
        "CognitoUserPool": _cognito_user_pool(stack, client),
        "Auth": {
            "Default": {
                "authenticationFlowType": "USER_SRP_AUTH",
                "OAuth": _oauth(stack, client),
                "usernameAttributes": [SIGN_IN_ATTRIBUTE.upper()],
                "signupAttributes": [SIGN_IN_ATTRIBUTE.upper()],
                "verificationMechanisms": [SIGN_IN_ATTRIBUTE.upper()],
            }
        },
    }
    return {"auth": {"plugins": {"awsCognitoAuthPlugin": plugin}}}


def aws_configuration(
    stack: StackOutputs, client: AppClientOutputs, identity_provider: str
) -> dict[str, Any]:
    """AWSMobileClient `awsconfiguration.json` (AWS Mobile SDK for iOS and Android)."""
    return {
        "Version": "1.0",
        "IdentityManager": {"Default": {}},
        **_credentials_provider(stack),
        "CognitoUserPool": _cognito_user_pool(stack, client),
        "Auth": {
            "Default": {"OAuth": {**_oauth(stack, client), "IdentityProvider": identity_provider}}
        },
    }


def variables(
    stack: StackOutputs, client: AppClientOutputs, identity_provider: str
) -> dict[str, str]:
    """The values of the `env` and `xcconfig` formats, by variable name."""
    values = {
        "COGNITO_REGION": stack.region,
        "COGNITO_USER_POOL_ID": stack.user_pool_id,
        "COGNITO_APP_CLIENT_ID": client.client_id,
    }
    if stack.identity_pool_id:
        values["COGNITO_IDENTITY_POOL_ID"] = stack.identity_pool_id
    return values | {
        "COGNITO_DOMAIN": stack.cognito_domain,
        "COGNITO_REDIRECT_SIGN_IN": client.sign_in_redirect,
        "COGNITO_REDIRECT_SIGN_OUT": client.sign_out_redirect,
        "COGNITO_SCOPES": keys.LIST_SEPARATOR.join(client.scopes),
        "COGNITO_IDENTITY_PROVIDER": identity_provider,
    }


# Characters that mean the same unquoted to a POSIX shell, dotenv readers and Java
# properties files (Gradle). `~` is left out: the shell expands it after `=` and `:`.
_BARE_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")


def env_value(value: str) -> str:
    """`value` bare when every reader takes it literally, else single-quoted for the shell."""
    if _BARE_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def env_file(values: Mapping[str, str]) -> str:
    """KEY=VALUE lines, for `source`, dotenv readers and gradle.properties alike."""
    return "".join(f"{name}={env_value(value)}\n" for name, value in values.items())


def xcconfig_value(value: str) -> str:
    """`value` as an xcconfig reads it: `//` would start a comment, and `/$()/` (an
    empty substitution between the slashes) is Xcode's usual way to write it."""
    return value.replace("//", "/$()/")


def xcconfig_file(values: Mapping[str, str]) -> str:
    """`NAME = value` lines for an Xcode build configuration file."""
    return "".join(f"{name} = {xcconfig_value(value)}\n" for name, value in values.items())


# --- one export ------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A rendered config, and what to tell the person running the export."""

    text: str
    notes: tuple[str, ...] = ()


def choose_identity_provider(client: AppClientOutputs, requested: str | None) -> str | None:
    """The SAML provider apps sign in with: the one asked for, or the client's only one."""
    offered = client.saml_providers
    if requested is not None:
        if requested not in offered:
            raise ExportError(
                f"app client {client.name!r} does not offer the identity provider "
                f"{requested!r}; it offers: {', '.join(offered) or NO_PROVIDERS}"
            )
        return requested
    return offered[0] if len(offered) == 1 else None


def render(
    fmt: ExportFormat,
    outputs: Outputs,
    *,
    client: str | None = None,
    identity_provider: str | None = None,
) -> Export:
    """The config of one app client in `fmt`, from a stack's outputs."""
    stack = parse_stack(outputs)
    app_client = parse_client(outputs, select_client(stack, client))
    chosen = choose_identity_provider(app_client, identity_provider)
    notes: list[str] = []
    if app_client.secret_arn:
        notes.append(
            f"warning: app client {app_client.name!r} has a client secret; it is not written "
            "here. Mobile apps are public clients (a secret in an app binary is readable by "
            "anyone, and Amplify does not send one): set generate_secret: false"
        )
    if fmt.is_amplify and AUTHORIZATION_CODE not in app_client.oauth_flows:
        notes.append(
            f"warning: app client {app_client.name!r} does not allow the authorization code "
            "grant, the only one Amplify's mobile libraries use: add authorization_code to "
            "its oauth_flows"
        )

    if fmt.names_identity_provider:
        if chosen is None:
            raise ExportError(_no_single_provider(app_client, fmt))
        values = variables(stack, app_client, chosen)
        if fmt is ExportFormat.ENV:
            return Export(env_file(values), tuple(notes))
        if fmt is ExportFormat.XCCONFIG:
            return Export(xcconfig_file(values), tuple(notes))
        document = aws_configuration(stack, app_client, chosen)
    else:
        providers = [chosen] if chosen else list(app_client.saml_providers)
        if providers:
            notes.append(_sign_in_hint(providers))
        if fmt is ExportFormat.AMPLIFY_CONFIGURATION:
            document = amplify_configuration(stack, app_client)
        else:
            document = amplify_outputs(stack, app_client, providers)
            if fmt is ExportFormat.AMPLIFY_DART:
                return Export(dart_constant(json.dumps(document, indent=2)), tuple(notes))
    return Export(json.dumps(document, indent=2) + "\n", tuple(notes))


def _no_single_provider(client: AppClientOutputs, fmt: ExportFormat) -> str:
    offered = client.saml_providers
    if offered:
        return (
            f"app client {client.name!r} offers several identity providers "
            f"({', '.join(offered)}); the {fmt} format names one: "
            "pass --identity-provider NAME"
        )
    listed = keys.client_output_key(client.name, keys.CLIENT_IDENTITY_PROVIDERS)
    return (
        f"app client {client.name!r} does not offer an Entra ID identity provider "
        f"({listed}: {', '.join(client.identity_providers) or NO_PROVIDERS}), and the {fmt} "
        "format names the one apps sign in with: list it in the client's identity_providers "
        "and deploy, or export --format amplify-outputs"
    )


def _sign_in_hint(providers: Sequence[str]) -> str:
    name = providers[0]
    which = f"'{name}'" if len(providers) == 1 else f"one of {', '.join(providers)}"
    return (
        f"hint: Amplify does not take the SAML identity provider from this file; apps pass "
        f'{which} at sign-in: Swift signInWithWebUI(for: .saml("{name}"), ...), '
        f'Android signInWithSocialWebUI(AuthProvider.custom("{name}"), ...), '
        f'Flutter signInWithWebUI(provider: AuthProvider.saml("{name}")), '
        f"React Native signInWithRedirect({{provider: {{custom: '{name}'}}}})"
    )
