"""`mobile-sso doctor`: is a deployed environment healthy, across AWS and Entra ID?

The checks live in `doctor_checks` (over injected clients); this module gathers the inputs
(the config, the stack outputs, boto3 clients, Graph credentials) and prints the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated

import typer

from mobile_sso.check_response import parse_instant
from mobile_sso.cli_common import (
    ConfigDirOption,
    ConfigFileOption,
    OutputsFileOption,
    deployer_secret_reader,
    entra_credential_source,
    load_environment,
    metadata_fetcher,
    stack_outputs,
)
from mobile_sso.config import EntraTenant, EnvironmentConfig
from mobile_sso.doctor_checks import (
    CognitoClient,
    Diagnosis,
    EntraOpener,
    IamClient,
    IdentityClient,
    diagnose,
)
from mobile_sso.entra_graph import (
    CredentialSource,
    Endpoints,
    GraphReader,
    open_reader,
)
from mobile_sso.export import (
    ExportError,
)
from mobile_sso.findings_table import console, print_findings


def doctor_command(
    *,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            metavar="NAME",
            help="The environment: config/<env>.yaml says what the deployment should be.",
            show_default=False,
        ),
    ],
    outputs_file: OutputsFileOption = None,
    config_file: ConfigFileOption = None,
    config_dir: ConfigDirOption = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            metavar="NAME",
            help="Print the sign-in test URLs of this app client only (every client is "
            "still checked).",
            show_default=False,
        ),
    ] = None,
    entra_credentials: Annotated[
        CredentialSource | None,
        typer.Option(
            "--entra-credentials",
            help="How to read Entra: 'secret' signs in as the deployer app registration "
            "from the config's credentials_secret in Secrets Manager (what the stack uses); "
            "'cli' uses your `az login`; 'default' azure-identity's DefaultAzureCredential "
            "(environment, managed identity, CLI, ...). Default: 'secret' for a tenant with "
            "credentials_secret, 'cli' for a tenant with federation.",
            show_default=False,
        ),
    ] = None,
    skip_entra: Annotated[
        bool,
        typer.Option(
            "--skip-entra",
            help="Check only AWS (and the metadata URL); no Microsoft Graph calls.",
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="TIME",
            help="Judge certificate expiry as of this ISO 8601 instant, e.g. the end of a "
            "release freeze. Default: the current time.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"healthy": bool, "findings": [{"category", "severity", "message", '
            '"fix"}], "sign_in_urls": [{"client", "identity_provider", "url"}]}.',
        ),
    ] = False,
) -> None:
    """Check a deployed environment across AWS and Entra ID, read-only.

    Compares the live user pool, its domain (and managed login styles), each app client's
    OAuth settings and identity providers, the identity pool if any, each identity
    provider's metadata (reachable, parses, signing certificate valid for more than 30 days
    and the one Entra signs with) and the Entra enterprise application (identifier, reply
    URL, SAML mode, assignments, users' email) with the environment's config. With `groups`
    set, also the groups wiring: the pool's V2_0 pre-token-generation trigger and feature
    plan, its group attributes, each identity provider's group claim mappings, and the
    application's groupMembershipClaims. For a tenant signed in with federation, also the
    account's outbound identity federation and the deployer app registration's federated
    credential. Each finding names the error users get until it is fixed, and the fix. Then
    it prints, per client and identity provider, a hosted-UI URL that goes straight to
    Entra, for a quick manual sign-in test.

    Categories: outputs, pool, domain, client, identity_pool, idp, claims, metadata,
    federation, entra_app, assignment.
    Exit code 0: healthy (warnings allowed); 1: problems found, or the deployment could not
    be read; 2: bad usage.

    \b
    Examples:
      mobile-sso doctor --env prod
      mobile-sso doctor --env prod --entra-credentials cli --client ios
      mobile-sso doctor --env prod --skip-entra --json
    """
    config = load_environment(env, config_file, config_dir=config_dir)
    if client is not None and client not in {c.name for c in config.clients}:
        known = ", ".join(c.name for c in config.clients)
        raise typer.BadParameter(
            f"{client!r} is not an app client of {env}; configured: {known}", param_hint="--client"
        )
    instant = parse_instant(now, "--now")
    outputs: Mapping[str, str] = {}
    outputs_error: str | None = None
    try:
        outputs = stack_outputs(env, config, outputs_file)
    except ExportError as error:
        outputs_error = str(error)
    diagnosis = diagnose(
        env,
        config,
        outputs,
        cognito=_cognito_client(config.region),
        fetch=metadata_fetcher("mobile-sso doctor"),
        entra=None if skip_entra else _entra_opener(config, entra_credentials),
        now=instant,
        client=client,
        iam=_iam_client(config.region)
        if any(tenant.federation is not None for tenant in config.entra)
        else None,
        identity=_identity_client(config.region) if config.identity_pool else None,
        outputs_error=outputs_error,
    )
    if as_json:
        typer.echo(json.dumps(diagnosis.as_dict(), indent=2))
        for note in diagnosis.notes:
            typer.echo(f"note: {note}", err=True)
    else:
        _print(diagnosis, config.stack_name)
    raise typer.Exit(code=0 if diagnosis.healthy else 1)


def _cognito_client(region: str) -> CognitoClient:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (slow import)

    client: CognitoClient = boto3.client("cognito-idp", region_name=region)
    return client


def _identity_client(region: str) -> IdentityClient:
    import boto3  # noqa: PLC0415

    client: IdentityClient = boto3.client("cognito-identity", region_name=region)
    return client


def _iam_client(region: str) -> IamClient:
    import boto3  # noqa: PLC0415

    client: IamClient = boto3.client("iam", region_name=region)
    return client


def _entra_opener(config: EnvironmentConfig, choice: CredentialSource | None) -> EntraOpener:
    @contextmanager
    def open_tenant(tenant: EntraTenant) -> Iterator[GraphReader]:
        source = entra_credential_source(choice, tenant)
        endpoints = Endpoints.for_cloud(tenant.cloud)
        deployer = deployer_secret_reader(config, tenant)
        with open_reader(source, endpoints, tenant.tenant_id, deployer) as reader:
            yield reader

    return open_tenant


def _print(diagnosis: Diagnosis, stack_name: str) -> None:
    out = console()
    print_findings(out, [finding.as_dict() for finding in diagnosis.findings])
    errors = sum(1 for f in diagnosis.findings if f.severity == "error")
    warnings = len(diagnosis.findings) - errors
    if diagnosis.healthy:
        extra = f", with {warnings} warning(s)" if warnings else ""
        out.print(f"{stack_name} is healthy{extra}.", style="green")
    else:
        out.print(
            f"{stack_name} has problems: {errors} error(s), {warnings} warning(s).",
            style="bold red",
        )
    if diagnosis.notes:
        out.print()
        out.print("Notes:")
        for note in diagnosis.notes:
            out.print(f"- {note}")
    if diagnosis.sign_in_urls:
        out.print()
        out.print("Sign-in test URLs (open in a browser; each goes straight to Entra ID):")
        for url in diagnosis.sign_in_urls:
            out.print(f"- {url.client} via {url.identity_provider}:")
            # Unwrapped, so that the URL can be copied whole.
            out.print(url.url, soft_wrap=True)
