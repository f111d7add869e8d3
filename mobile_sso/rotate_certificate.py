"""`mobile-sso rotate-certificate`: renew an IdP's SAML signing certificate with no failed
sign-in.

Cognito reads the Entra app's federation metadata URL and caches it for up to 6 hours; it
accepts a response signed by any signing certificate of the metadata it holds. Entra's app
metadata lists every signing certificate of the app, inactive ones included. So a rotation
is three phases, each one run of the command:

1. start: add a new certificate (inactive: Entra keeps signing with the old one, and the
   metadata now lists both);
2. activate, once Cognito's cache can no longer be older than the moment the metadata began
   to list the new certificate (its start + 6 hours + a margin for Entra to publish it);
   Entra signs with the new one, which Cognito already trusts;
3. retire: remove the old certificate (no longer signing; Cognito still trusts the new one).

The state lives in Entra itself (which certificates exist, which is active, when each was
made), so the command is resumable and idempotent: each run looks, does the one safe next
step, and says when the next may run. A run that is too early changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Protocol

import typer

from mobile_sso import outputs as keys
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
from mobile_sso.entra_graph import (
    CredentialSource,
    Endpoints,
    EntraError,
    SigningCertificate,
    SigningCertificates,
    open_writer,
)
from mobile_sso.export import ExportError
from mobile_sso.saml_check import UnreadableMetadata, parse_metadata, thumbprint

# Cognito refreshes URL metadata at most this long after it last read it (DESIGN.md).
METADATA_CACHE = timedelta(hours=6)
# Allowance for Entra to list a new certificate in the metadata after its startDateTime
# (the custom resource sees seconds to minutes) and for clock skew.
PUBLISH_MARGIN = timedelta(minutes=30)
RENEW_WITHIN = timedelta(days=60)  # Entra's first expiry e-mail goes out 60 days before
VALIDITY_YEARS = 3  # Entra's maximum, and its portal's default
CERTIFICATE_SUBJECT = "CN=Microsoft Azure Federated SSO Certificate"  # as the custom resource
EXIT_NOT_YET = 3


class Phase(StrEnum):
    START = "start"
    WAIT = "wait"
    ACTIVATE = "activate"
    RETIRE = "retire"
    NOTHING = "nothing"


class RotationError(EntraError):
    """The rotation cannot go on."""


@dataclass(frozen=True)
class Step:
    """What one run does (or, with --dry-run, would do)."""

    phase: Phase
    message: str
    thumbprints: frozenset[str] = frozenset()
    not_before: datetime | None = None  # when the next phase may run


def earliest_activation(start: datetime) -> datetime:
    """When a certificate made at `start` may become the signing one: by then every copy
    of the metadata Cognito may hold was read after Entra began to list it."""
    return start + METADATA_CACHE + PUBLISH_MARGIN


def plan(
    state: SigningCertificates,
    published: frozenset[str] | None,
    now: datetime,
    *,
    force: bool = False,
    renew_within: timedelta = RENEW_WITHIN,
) -> Step:
    """The one safe next step, from what Entra shows and the metadata lists (None: unread)."""
    active = state.active
    if active is None:
        raise RotationError(
            f"enterprise application {state.display_name!r} has no active signing certificate "
            f"(preferredTokenSigningKeyThumbprint={state.active_thumbprint!r})",
            "Deploy the stack: its custom resource adds and activates one.",
        )
    others = [c for c in state.certificates if c.thumbprint != active.thumbprint]
    pending = [c for c in others if c.start > active.start and c.end > now]
    if pending:
        return _pending_step(active, max(pending, key=lambda c: c.start), published, now)
    older = frozenset(c.thumbprint for c in others if c.start <= active.start)
    return _settled_step(active, older, published, now, force=force, renew_within=renew_within)


def _pending_step(
    active: SigningCertificate,
    new: SigningCertificate,
    published: frozenset[str] | None,
    now: datetime,
) -> Step:
    """A new certificate waits: activate it when Cognito's cache must already hold it."""
    ready = earliest_activation(new.start)
    if active.end <= now:
        return Step(
            Phase.ACTIVATE,
            f"activate {new.thumbprint} now: the active certificate {active.thumbprint} "
            f"expired at {_at(active.end)}, so sign-ins already fail; waiting gains nothing",
            frozenset({new.thumbprint}),
        )
    if published is None or new.thumbprint not in published:
        return Step(
            Phase.WAIT,
            f"not yet: {_metadata_lacks(published, 'the new certificate', new)}; Cognito "
            "cannot trust it before it does. Run again in a few minutes",
            frozenset({new.thumbprint}),
            not_before=max(ready, now),
        )
    if now < ready:
        return Step(
            Phase.WAIT,
            f"not yet: activating {new.thumbprint} now would fail sign-ins for as long as "
            "Cognito holds metadata read before Entra listed it (Cognito caches it up to 6 "
            f"hours). It may be activated from {_at(ready)}",
            frozenset({new.thumbprint}),
            not_before=ready,
        )
    return Step(
        Phase.ACTIVATE,
        f"activate {new.thumbprint} (added {_at(new.start)}): Entra signs with it from now "
        f"on; the old {active.thumbprint} stays listed until it is retired",
        frozenset({new.thumbprint}),
        not_before=now,
    )


def _settled_step(
    active: SigningCertificate,
    older: frozenset[str],
    published: frozenset[str] | None,
    now: datetime,
    *,
    force: bool,
    renew_within: timedelta,
) -> Step:
    """No new certificate waits: retire the old ones, start a rotation, or nothing."""
    if older:
        if published is None or active.thumbprint not in published:
            return Step(
                Phase.WAIT,
                f"not yet: {_metadata_lacks(published, 'the active certificate', active)}; "
                "retiring the others could leave Cognito without a certificate it trusts",
                older,
                not_before=now,
            )
        return Step(
            Phase.RETIRE,
            f"retire {', '.join(sorted(older))}: Entra signs with {active.thumbprint}, which "
            "Cognito already trusts; the rotation is then complete",
            older,
        )
    remaining = active.end - now
    if force or remaining <= renew_within:
        return Step(
            Phase.START,
            f"add a new signing certificate next to {active.thumbprint} (expires "
            f"{_at(active.end)}); Entra keeps signing with the old one for now",
            not_before=now + METADATA_CACHE + PUBLISH_MARGIN,
        )
    return Step(
        Phase.NOTHING,
        f"nothing to do: the active certificate {active.thumbprint} is the only one and is "
        f"valid until {_at(active.end)} ({remaining.days} days); a rotation starts within "
        f"{renew_within.days} days of its expiry, or now with --force",
    )


def _metadata_lacks(
    published: frozenset[str] | None, what: str, certificate: SigningCertificate
) -> str:
    if published is None:
        return f"the metadata URL could not be read, so it is not known to list {what}"
    return f"the metadata URL does not list {what} {certificate.thumbprint} yet"


class CertificatePort(Protocol):
    """The Graph calls a rotation makes (`HttpGraphWriter` has them)."""

    def signing_certificates(self, app_id: str) -> SigningCertificates | None: ...

    def add_signing_certificate(self, sp_id: str, display_name: str, end: datetime) -> str: ...

    def activate_signing_certificate(self, sp_id: str, thumbprint: str) -> None: ...

    def remove_signing_certificates(
        self, current: SigningCertificates, thumbprints: frozenset[str]
    ) -> None: ...


MetadataFetcher = Callable[[str], bytes | UnreadableMetadata]


def published_thumbprints(document: bytes | UnreadableMetadata) -> frozenset[str] | None:
    """The signing certificates a metadata document lists; None when it cannot be read."""
    if isinstance(document, UnreadableMetadata):
        return None
    try:
        return frozenset(thumbprint(c) for c in parse_metadata(document).certificates)
    except Exception:
        return None


def advance(
    graph: CertificatePort,
    fetch: MetadataFetcher,
    *,
    app_id: str,
    metadata_url: str,
    now: datetime,
    dry_run: bool = False,
    force: bool = False,
    validity_years: int = VALIDITY_YEARS,
) -> Step:
    """Look at the app and its metadata, and carry out the next step unless `dry_run`."""
    state = graph.signing_certificates(app_id)
    if state is None:
        raise RotationError(
            f"no enterprise application (service principal) with app id {app_id}",
            "Check the stack outputs (IdP<Name>EntraAppId) and that the credentials are for "
            "the right tenant.",
        )
    step = plan(state, published_thumbprints(fetch(metadata_url)), now, force=force)
    if dry_run:
        return step
    sp_id = state.service_principal_id
    if step.phase is Phase.START:
        end = _years_after(now, validity_years)
        added = graph.add_signing_certificate(sp_id, CERTIFICATE_SUBJECT, end)
        return Step(
            Phase.START,
            f"added signing certificate {added} (valid until {_at(end)}), inactive; Entra "
            "keeps signing with the old one",
            frozenset({added}),
            not_before=earliest_activation(now),
        )
    if step.phase is Phase.ACTIVATE:
        (new,) = step.thumbprints
        graph.activate_signing_certificate(sp_id, new)
    elif step.phase is Phase.RETIRE:
        graph.remove_signing_certificates(state, step.thumbprints)
    return step


def _years_after(moment: datetime, years: int) -> datetime:
    # A day short: Entra measures its 3-year limit by its own clock (as the custom resource).
    try:
        later = moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        later = moment.replace(year=moment.year + years, day=28)
    return later - timedelta(days=1)


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- the command ------------------------------------------------------------------------


def utcnow() -> datetime:
    """The command's clock (tests replace it with a simulated one)."""
    return datetime.now(UTC)


def rotate_certificate_command(
    *,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            metavar="NAME",
            help="The environment (config/<env>.yaml).",
            show_default=False,
        ),
    ],
    idp: Annotated[
        str | None,
        typer.Option(
            "--idp",
            metavar="NAME",
            help="The identity provider (entra[].idp_name) to rotate; required when the "
            "environment has several.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what the next step is; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start a rotation even though the active certificate is valid for more "
            "than 60 days (the waits still apply).",
        ),
    ] = False,
    outputs_file: OutputsFileOption = None,
    config_file: ConfigFileOption = None,
    config_dir: ConfigDirOption = None,
    entra_credentials: Annotated[
        CredentialSource | None,
        typer.Option(
            "--entra-credentials",
            help="'secret': the deployer app registration from the config's "
            "credentials_secret (it holds Application.ReadWrite.All); 'cli': your `az login`; "
            "'default': DefaultAzureCredential. Default: 'secret' for a tenant with "
            "credentials_secret, 'cli' for a tenant with federation.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Renew an identity provider's SAML signing certificate without failed sign-ins.

    Each run does the one safe next step and says when the next may run: start (add a new,
    inactive certificate: Entra's metadata lists both), activate (from 6 h 30 min after the
    start, once Cognito's cached metadata holds the new one), retire (remove the old one).
    Run it again until it says there is nothing to do. State is read from Entra each time.

    Exit code 0: a step was done (or nothing was due); 3: too early, nothing changed, run
    again at the time printed; 1: an error; 2: bad usage.

    \b
    Examples:
      mobile-sso rotate-certificate --env prod --dry-run
      mobile-sso rotate-certificate --env prod --idp Contoso
    """
    config = load_environment(env, config_file, config_dir=config_dir)
    tenant = _tenant(config, idp)
    try:
        found = stack_outputs(env, config, outputs_file)
    except ExportError as error:
        typer.echo(f"error: the stack's outputs could not be read: {error}", err=True)
        raise typer.Exit(code=1) from None
    app_id, url = _app_of(found, tenant)
    try:
        with _writer(config, tenant, entra_credentials) as graph:
            step = advance(
                graph,
                metadata_fetcher("mobile-sso rotate-certificate"),
                app_id=app_id,
                metadata_url=url,
                now=utcnow(),
                dry_run=dry_run,
                force=force,
            )
    except EntraError as error:
        typer.echo(f"error: {error.message}\nfix: {error.fix}", err=True)
        raise typer.Exit(code=1) from None
    prefix = "dry run, would: " if dry_run and step.phase is not Phase.WAIT else ""
    typer.echo(f"{tenant.idp_name}: {prefix}{step.message}")
    if step.phase is Phase.WAIT:
        if step.not_before is not None:
            typer.echo(f"next: run again from {_at(step.not_before)}")
        raise typer.Exit(code=EXIT_NOT_YET)
    typer.echo(f"next: {_NEXT[step.phase](step)}")


_NEXT: Mapping[Phase, Callable[[Step], str]] = {
    Phase.START: lambda step: (
        f"run again from {_at(step.not_before or utcnow())} to activate the new certificate"
    ),
    Phase.ACTIVATE: lambda _: (
        "sign in once through this IdP (mobile-sso doctor prints a test URL), then run again "
        "to retire the old certificate"
    ),
    Phase.RETIRE: lambda _: "nothing: the rotation is complete",
    Phase.NOTHING: lambda _: "nothing",
}


def _tenant(config: EnvironmentConfig, idp: str | None) -> EntraTenant:
    names = [t.idp_name for t in config.entra]
    if not names:
        raise typer.BadParameter(
            "the environment has no Entra identity provider (entra: [])", param_hint="--env"
        )
    if idp is None:
        if len(names) > 1:
            raise typer.BadParameter(
                f"the environment has several identity providers; choose one of: "
                f"{', '.join(names)}",
                param_hint="--idp",
            )
        return config.entra[0]
    for tenant in config.entra:
        if tenant.idp_name == idp:
            return tenant
    raise typer.BadParameter(
        f"{idp!r} is not an identity provider of this environment; configured: {', '.join(names)}",
        param_hint="--idp",
    )


def _app_of(found: Mapping[str, str], tenant: EntraTenant) -> tuple[str, str]:
    app_key = keys.idp_output_key(tenant.idp_name, keys.IDP_ENTRA_APP_ID)
    url_key = keys.idp_output_key(tenant.idp_name, keys.IDP_METADATA_URL)
    app_id, url = found.get(app_key), found.get(url_key)
    if not app_id or not url:
        typer.echo(
            f"error: the stack outputs lack {app_key} or {url_key}; deploy the environment "
            "first (make deploy ENV=...)",
            err=True,
        )
        raise typer.Exit(code=1)
    return app_id, url


@contextmanager
def _writer(
    config: EnvironmentConfig, tenant: EntraTenant, choice: CredentialSource | None
) -> Iterator[CertificatePort]:
    source = entra_credential_source(choice, tenant)
    endpoints = Endpoints.for_cloud(tenant.cloud)
    deployer = deployer_secret_reader(config, tenant)
    with open_writer(source, endpoints, tenant.tenant_id, deployer) as writer:
        yield writer
