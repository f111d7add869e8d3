"""`mobile-sso bootstrap-entra`: the command line of `mobile_sso.bootstrap_entra`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlparse

import typer

from mobile_sso.bootstrap_entra import (
    AZURE_CLI_CLIENT_ID,
    DEFAULT_VALID_DAYS,
    FEDERATED_AUDIENCE,
    MAX_VALID_DAYS,
    AdminAuth,
    Bootstrap,
    BootstrapError,
    CredentialKind,
    Federation,
    Outcome,
    Progress,
    Target,
    open_admin_graph,
    secrets_client,
    target_for,
)
from mobile_sso.cli_common import (
    ConfigDirOption,
    ConfigFileOption,
    load_environment,
)
from mobile_sso.entra_graph import Endpoints, EntraError


def bootstrap_entra_command(
    *,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            metavar="NAME",
            help="The environment: config/<env>.yaml names the tenant, the secret and region.",
            show_default=False,
        ),
    ],
    config_file: ConfigFileOption = None,
    config_dir: ConfigDirOption = None,
    idp: Annotated[
        str | None,
        typer.Option(
            "--idp",
            metavar="NAME",
            help="The tenant's entra[].idp_name; required when the environment has several.",
            show_default=False,
        ),
    ] = None,
    credential: Annotated[
        CredentialKind | None,
        typer.Option(
            "--credential",
            help="How the deployer signs in: 'certificate' (a new RSA key and self-signed "
            "certificate; the secret holds the PEM), 'secret' (a client secret), or "
            "'federated' (a federated identity credential trusting the handler role's AWS "
            "STS tokens; no secret is stored). Default: 'federated' for a tenant configured "
            "with entra[].federation, else 'certificate'.",
            show_default=False,
        ),
    ] = None,
    auth: Annotated[
        AdminAuth,
        typer.Option(
            "--auth",
            help="How you, the Entra admin, sign in: 'azure-cli' uses your `az login`; "
            "'device-code' prints a code to enter at the Microsoft sign-in page.",
        ),
    ] = AdminAuth.AZURE_CLI,
    client_id: Annotated[
        str,
        typer.Option(
            "--client-id",
            metavar="ID",
            help="Public client app the device-code sign-in goes through (default: Azure CLI's).",
        ),
    ] = AZURE_CLI_CLIENT_ID,
    issuer: Annotated[
        str | None,
        typer.Option(
            "--issuer",
            metavar="URL",
            help="--credential federated: the issuer of the handler's identity tokens.",
            show_default=False,
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            metavar="SUBJECT",
            help="--credential federated: the subject of those tokens (the handler role ARN; "
            "default: computed from the config's account, region and stack name).",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            metavar="AUDIENCE",
            help="--credential federated: audience (default: entra[].federation.audience, "
            f"else {FEDERATED_AUDIENCE}).",
            show_default=False,
        ),
    ] = None,
    valid_days: Annotated[
        int,
        typer.Option(
            "--valid-days",
            min=1,
            max=MAX_VALID_DAYS,
            help="Lifetime of a new client secret or certificate, in days.",
        ),
    ] = DEFAULT_VALID_DAYS,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate-credential",
            help="Add a new credential and store it even though the stored one is valid (or "
            "belongs to another app registration). Valid older ones stay in Entra: remove "
            "them once the stack runs with the new one.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print each call it would make; write nothing."),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Make the changes without asking first."),
    ] = False,
) -> None:
    """Create the deployer app registration the stack signs in to Graph with (run once, as an
    Entra admin).

    Finds, restores from Entra's deleted items, or creates the registration (uniqueName
    mobile-sso-deployer-<stack>-<idp>) with
    exactly the Microsoft Graph application permissions the custom resource needs
    (Application.ReadWrite.All; AppRoleAssignment.ReadWrite.All only when entra[].assignments
    lists users or groups), its service principal, admin consent, and a credential; then
    writes {"tenantId", "clientId", "clientSecret" | "certificatePem"} to the Secrets Manager
    secret entra[].credentials_secret names, in the stack's region. Each step is skipped when
    already done, so re-running is safe and completes a run that failed halfway. Without
    --yes it prints the plan and asks first. Secrets are never printed.

    Needs: an Entra admin sign-in (granting consent takes Global Administrator or Privileged
    Role Administrator) and AWS credentials allowed to create or update the secret.

    \b
    Examples:
      mobile-sso bootstrap-entra --env prod --dry-run
      mobile-sso bootstrap-entra --env prod --idp Contoso --credential secret
      mobile-sso bootstrap-entra --env prod --auth device-code --yes
    """
    config = load_environment(env, config_file, config_dir=config_dir, bootstrapping=True)
    try:
        target = target_for(env, config, idp)
        tenant = next(t for t in config.entra if t.idp_name == target.idp_name)
        endpoints = Endpoints.for_cloud(tenant.cloud)
    except EntraError as error:
        raise typer.BadParameter(f"{error.message}. {error.fix}", param_hint="--idp") from None
    credential = _credential_kind(credential, target)
    federation = _federation(
        credential,
        issuer,
        subject or target.handler_role_arn,
        audience or target.federation_audience or FEDERATED_AUDIENCE,
    )
    stored = (
        "no secret stored (federated credential)"
        if credential is CredentialKind.FEDERATED
        else f"secret {target.secret_reference} in {target.secret_region}"
    )
    typer.echo(
        f"Entra tenant {target.tenant_id} ({target.idp_name}) of {config.stack_name}; {stored}"
        + (" (dry run: nothing is written)" if dry_run else "")
    )
    plan_first = not dry_run and not yes
    choices = _Choices(auth, client_id, credential, federation, rotate, valid_days)
    outcome = _run(target, endpoints, choices, dry_run=dry_run or plan_first)
    if plan_first:
        if not outcome.planned:
            _finish(target, credential, outcome, dry_run=False)
            return
        if not typer.confirm(f"Make these {len(outcome.planned)} change(s)?", default=False):
            typer.echo("Nothing was changed.")
            raise typer.Exit(code=1)
        outcome = _run(target, endpoints, choices, dry_run=False)
    _finish(target, credential, outcome, dry_run=dry_run)


@dataclass(frozen=True)
class _Choices:
    auth: AdminAuth
    client_id: str
    credential: CredentialKind
    federation: Federation | None
    rotate: bool
    valid_days: int


def _run(target: Target, endpoints: Endpoints, choices: _Choices, *, dry_run: bool) -> Outcome:
    progress = Progress(dry_run=dry_run, echo=typer.echo)
    try:
        with open_admin_graph(
            choices.auth,
            endpoints,
            target.tenant_id,
            client_id=choices.client_id,
            prompt=lambda text: typer.echo(text, err=True),
        ) as graph:
            return Bootstrap(
                target=target,
                graph=graph,
                secrets=secrets_client(target.secret_region),
                progress=progress,
                credential=choices.credential,
                federation=choices.federation,
                rotate=choices.rotate,
                valid_days=choices.valid_days,
            ).run()
    except BootstrapError as error:
        typer.echo(f"error: {error.message}", err=True)
        typer.echo(f"fix: {error.fix}", err=True)
        if progress.done:
            typer.echo("Done before the failure (kept; a re-run skips it):", err=True)
            for step in progress.done:
                typer.echo(f"  - {step}", err=True)
        typer.echo("Re-run the same command to complete the set-up.", err=True)
        raise typer.Exit(code=1) from None


def _finish(target: Target, credential: CredentialKind, outcome: Outcome, *, dry_run: bool) -> None:
    if dry_run:
        count = len(outcome.planned)
        typer.echo(
            f"Dry run: {count} change(s) planned; nothing was written."
            if count
            else "Dry run: nothing to change."
        )
        return
    if outcome.writes:
        typer.echo(f"{len(outcome.writes)} change(s) made.")
    else:
        typer.echo("Nothing to change: the deployer app registration is set up.")
    if credential is CredentialKind.FEDERATED:
        typer.echo(
            f"The handler signs in as client id {outcome.app_id} of tenant {target.tenant_id} "
            "with its federated credential; no secret was stored."
        )
        if target.federated_client_id != outcome.app_id:
            typer.echo(
                f"Set it in config/{target.env}.yaml, under the tenant {target.idp_name}:\n"
                f"  federation:\n    client_id: {outcome.app_id}"
            )
    typer.echo(f"Next: make deploy ENV={target.env}")


def _credential_kind(chosen: CredentialKind | None, target: Target) -> CredentialKind:
    """What the config implies unless chosen; a stored credential for a federated tenant
    would be one the stack never reads."""
    federated = target.secret_reference is None
    if chosen is None:
        return CredentialKind.FEDERATED if federated else CredentialKind.CERTIFICATE
    if federated and chosen is not CredentialKind.FEDERATED:
        raise typer.BadParameter(
            f"tenant {target.idp_name} is configured with entra[].federation, so the stack reads "
            f"no secret: a {chosen.value} would never be used. Use --credential federated, or "
            "replace federation with credentials_secret in the config",
            param_hint="--credential",
        )
    return chosen


def _federation(
    credential: CredentialKind, issuer: str | None, subject: str | None, audience: str
) -> Federation | None:
    if credential is not CredentialKind.FEDERATED:
        if issuer or subject:
            raise typer.BadParameter(
                "--issuer and --subject apply only to --credential federated",
                param_hint="--issuer/--subject",
            )
        return None
    if not issuer:
        raise typer.BadParameter(
            "--credential federated needs --issuer URL: the AWS account's token issuer, from "
            "`aws iam get-outbound-web-identity-federation-info --query IssuerIdentifier`",
            param_hint="--issuer",
        )
    if not subject:
        raise typer.BadParameter(
            "--credential federated needs --subject (the handler role's ARN): give it, or set "
            "the config's account so it can be computed",
            param_hint="--subject",
        )
    if urlparse(issuer).scheme != "https" or not urlparse(issuer).hostname:
        raise typer.BadParameter(
            f"{issuer!r} is not an https:// URL; Entra accepts only https issuers",
            param_hint="--issuer",
        )
    return Federation(issuer=issuer, subject=subject, audience=audience)
