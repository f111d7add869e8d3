"""`mobile-sso check-response`: would Cognito accept this SAML response, and if not, why?

The checks live in `saml_check` (pure); this module gathers the inputs (files, a metadata
URL, the environment's config and deploy outputs) and prints the verdict.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import urlsplit

import typer

from mobile_sso import outputs
from mobile_sso.cli_common import ConfigDirOption
from mobile_sso.config import (
    ENTRA_EMAIL_CLAIM,
    ConfigError,
    EntraTenant,
    is_loopback_url,
    load_config,
)
from mobile_sso.findings_table import console, print_findings
from mobile_sso.saml_check import (
    DEFAULT_CLOCK_SKEW,
    MAX_CAPTURE_BYTES,
    MAX_DOCUMENT_BYTES,
    Expectations,
    Report,
    UnreadableMetadata,
    check_response,
    internal_failure,
    normalize_domain,
)
from mobile_sso.terminal import visible

METADATA_TIMEOUT_SECONDS = 15
# The exit codes docs/troubleshooting.md and --help document.
EXIT_ACCEPTED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2  # typer's own code for bad usage
EXIT_NOT_JUDGED = 3


def check_response_command(
    response: Annotated[
        Path,
        typer.Argument(
            help="File holding the SAMLResponse as posted to /saml2/idpresponse (base64, "
            "URL-encoded or not), its decoded XML, or a browser HAR file of the sign-in; "
            "'-' reads standard input.",
            show_default=False,
            allow_dash=True,
            metavar="RESPONSE",
        ),
    ],
    *,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata",
            metavar="FILE_OR_URL",
            help="The IdP's federation metadata: a file or an https URL. Default with --env: "
            "the IdP's MetadataUrl output.",
            show_default=False,
        ),
    ] = None,
    user_pool_id: Annotated[
        str | None,
        typer.Option(
            "--user-pool-id",
            metavar="POOL_ID",
            help="e.g. eu-west-1_AbCdEf123",
            show_default=False,
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            metavar="HOST",
            help="The Cognito domain host, e.g. myapp.auth.eu-west-1.amazoncognito.com",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            metavar="NAME",
            help="Take pool id, domain, metadata URL and email claim from config/<env>.yaml "
            "and the deploy outputs.",
            show_default=False,
        ),
    ] = None,
    config_dir: ConfigDirOption = None,
    outputs_file: Annotated[
        Path | None,
        typer.Option(
            "--outputs-file",
            metavar="FILE",
            help="JSON written by `cdk deploy --outputs-file` (default with --env: "
            "cdk-outputs-<env>.json, as `make deploy` writes it).",
            show_default=False,
        ),
    ] = None,
    idp: Annotated[
        str | None,
        typer.Option(
            "--idp",
            metavar="NAME",
            help="With --env: the identity provider (entra[].idp_name) whose metadata and "
            "claims apply; needed only when the config has several tenants.",
            show_default=False,
        ),
    ] = None,
    idp_initiated: Annotated[
        bool | None,
        typer.Option(
            "--idp-initiated/--no-idp-initiated",
            help="The identity provider has IdP-initiated sign-in (IDPInit) on, so a "
            "response that answers no request is fine. Default: the config's "
            "entra[].idp_initiated with --env, else off (SP-initiated).",
            show_default=False,
        ),
    ] = None,
    required_attribute: Annotated[
        list[str] | None,
        typer.Option(
            "--required-attribute",
            metavar="CLAIM",
            help=f"A claim that must be present and non-empty (repeatable). Default: the "
            f"email claim ({ENTRA_EMAIL_CLAIM}, or the config's attribute_mapping.email).",
            show_default=False,
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="TIME",
            help="Judge times as of this ISO 8601 instant (UTC unless it says otherwise), "
            "e.g. when the capture was taken. Default: the current time.",
            show_default=False,
        ),
    ] = None,
    clock_skew: Annotated[
        int,
        typer.Option(
            "--clock-skew",
            metavar="SECONDS",
            min=0,
            help="Seconds of clock difference tolerated on NotBefore/NotOnOrAfter. Cognito "
            "does not publish its tolerance; 300 is the usual SAML default.",
        ),
    ] = int(DEFAULT_CLOCK_SKEW.total_seconds()),
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"accepted": bool, "findings": [{"category", "severity", "message", '
            '"fix"}]}.',
        ),
    ] = False,
) -> None:
    """Say whether Cognito would accept a SAML response that Entra posted, and what to fix.

    Checks the signature against the metadata's signing certificates, issuer, audience,
    recipient, destination, validity times, status, NameID, InResponseTo and the required
    attributes. Exit code 0 when Cognito would accept it, 1 when not, 2 on bad usage, 3 when
    the check itself failed on the input (an `internal` finding: no verdict).

    Example: mobile-sso check-response capture.har --env prod --now 2026-11-27T09:30:00Z
    """
    setup = _Setup(env, outputs_file, idp, config_dir)
    pool_id = user_pool_id or setup.output(outputs.USER_POOL_ID, "--user-pool-id")
    host = domain or setup.output(outputs.COGNITO_DOMAIN, "--domain")
    try:
        normalize_domain(host)
    except ValueError:
        raise typer.BadParameter(
            f"{visible(host)!r} is not a host name such as myapp.auth.eu-west-1.amazoncognito.com",
            param_hint="--domain",
        ) from None
    metadata_source = metadata or setup.metadata_url()
    expect = Expectations(
        user_pool_id=pool_id,
        domain=host,
        now=parse_instant(now, "--now"),
        idp_initiated=setup.idp_initiated() if idp_initiated is None else idp_initiated,
        required_attributes=tuple(required_attribute or setup.required_attributes()),
        attribute_names=setup.attribute_names(),
        clock_skew=dt.timedelta(seconds=clock_skew),
    )
    try:
        report = check_response(_read_response(response), _read_metadata(metadata_source), expect)
    except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors and exits
        raise
    except Exception as exc:  # the contract: findings and exit 3, no traceback
        report = Report((internal_failure(exc),))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table(report)
    if not report.judged:
        raise typer.Exit(code=EXIT_NOT_JUDGED)
    raise typer.Exit(code=EXIT_ACCEPTED if report.accepted else EXIT_REFUSED)


class _Setup:
    """What --env knows: the config's tenant and the deploy outputs, read only when needed."""

    def __init__(
        self, env: str | None, outputs_file: Path | None, idp: str | None, config_dir: Path | None
    ) -> None:
        self.env = env
        self.outputs_file = outputs_file or (Path(f"cdk-outputs-{env}.json") if env else None)
        self.tenant: EntraTenant | None = None
        self.stack_name = ""
        self._outputs: dict[str, Any] | None = None
        if env is None:
            if idp is not None:
                raise typer.BadParameter("--idp needs --env", param_hint="--idp")
            if config_dir is not None:
                raise typer.BadParameter("--config-dir needs --env", param_hint="--config-dir")
            return
        try:
            config = load_config(env, config_dir)
        except ConfigError as error:
            raise typer.BadParameter(str(error), param_hint="--env") from None
        self.stack_name = config.stack_name
        tenants = {tenant.idp_name.lower(): tenant for tenant in config.entra}
        names = [tenant.idp_name for tenant in config.entra]
        if idp is not None:
            if idp.lower() not in tenants:
                raise typer.BadParameter(
                    f"{idp!r} is not an identity provider of {env}; configured: {names}",
                    param_hint="--idp",
                )
            self.tenant = tenants[idp.lower()]
        elif len(config.entra) == 1:
            self.tenant = config.entra[0]
        elif len(config.entra) > 1:
            raise typer.BadParameter(
                f"{env} has several identity providers {names}: name one with --idp",
                param_hint="--idp",
            )

    def output(self, key: str, option: str) -> str:
        if self.env is None:
            raise typer.BadParameter(f"give {option}, or --env to read it", param_hint=option)
        outputs_of_stack = self._stack_outputs()
        value = outputs_of_stack.get(key)
        if not isinstance(value, str) or not value:
            raise typer.BadParameter(
                f"{self.outputs_file} has no output {key} for stack {self.stack_name}; "
                f"give {option}",
                param_hint=option,
            )
        return value

    def metadata_url(self) -> str:
        if self.tenant is None:
            raise typer.BadParameter(
                "give the IdP's federation metadata (a file or its URL)", param_hint="--metadata"
            )
        key = outputs.idp_output_key(self.tenant.idp_name, outputs.IDP_METADATA_URL)
        return self.output(key, "--metadata")

    def idp_initiated(self) -> bool:
        return self.tenant is not None and self.tenant.idp_initiated

    def required_attributes(self) -> list[str]:
        if self.tenant is None:
            return [ENTRA_EMAIL_CLAIM]
        return [self.tenant.attribute_mapping.email]

    def attribute_names(self) -> dict[str, str]:
        if self.tenant is None:
            return {ENTRA_EMAIL_CLAIM: "email"}
        mapping = self.tenant.attribute_mapping
        claims = {
            "email": mapping.email,
            "name": mapping.name,
            "given_name": mapping.given_name,
            "family_name": mapping.family_name,
        }
        return {claim: attribute for attribute, claim in claims.items() if claim}

    def _stack_outputs(self) -> dict[str, Any]:
        if self._outputs is not None:
            return self._outputs
        path = self.outputs_file
        assert path is not None  # noqa: S101 - set whenever env is
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {path} ({exc.strerror}); `make deploy ENV={self.env}` writes it, "
                "or pass --user-pool-id, --domain and --metadata",
                param_hint="--outputs-file",
            ) from None
        except ValueError as exc:
            raise typer.BadParameter(
                f"{path} is not JSON: {exc}", param_hint="--outputs-file"
            ) from None
        stack = data.get(self.stack_name) if isinstance(data, dict) else None
        if not isinstance(stack, dict):
            stacks = sorted(data) if isinstance(data, dict) else []
            raise typer.BadParameter(
                f"{path} holds no outputs of stack {self.stack_name} (it has {stacks})",
                param_hint="--outputs-file",
            )
        self._outputs = stack
        return stack


def parse_instant(value: str | None, option: str) -> dt.datetime:
    """An ISO 8601 option value (UTC unless it says otherwise); the current time if None."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        instant = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-11-27T09:30:00Z",
            param_hint=option,
        ) from None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    try:
        return instant.astimezone(dt.UTC)
    except OverflowError:
        raise typer.BadParameter(
            f"{value!r} is outside the years 1 to 9999 in UTC", param_hint=option
        ) from None


def read_limited(source: IO[bytes], limit: int) -> bytes:
    """At most `limit` + 1 bytes of `source`: enough to tell that it is larger than `limit`
    (the checks refuse it then) without reading a huge file whole."""
    return source.read(limit + 1)


def _read_response(path: Path) -> bytes:
    if str(path) == "-":
        return read_limited(sys.stdin.buffer, MAX_CAPTURE_BYTES)
    try:
        with path.open("rb") as source:
            return read_limited(source, MAX_CAPTURE_BYTES)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="RESPONSE"
        ) from None


def _read_metadata(source: str) -> bytes | UnreadableMetadata:
    if "://" in source:
        problem = untrusted_metadata_url(source)
        if problem is not None:
            raise typer.BadParameter(problem, param_hint="--metadata")
        return fetch_metadata(source)
    try:
        with Path(source).open("rb") as document:
            return read_limited(document, MAX_DOCUMENT_BYTES)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {source}: {exc.strerror}", param_hint="--metadata"
        ) from None


def untrusted_metadata_url(url: str) -> str | None:
    """Why metadata may not be fetched from `url`, or None. The metadata names the signing
    certificates, so whoever can change the fetch chooses what is trusted: https only, plain
    http only to this machine's loopback (for tests), as the ENTRA_* endpoints."""
    try:
        parts = urlsplit(url)
        loopback = is_loopback_url(url)
    except ValueError:
        return f"the metadata URL is not a URL: {visible(url)!r}"
    if parts.scheme.lower() == "https" and parts.hostname:
        return None
    if parts.scheme.lower() == "http" and loopback:
        return None
    return (
        f"the metadata URL {visible(url)!r} is not https: over plain http whoever can change "
        "the answer chooses the signing certificate; use the https URL (http only to "
        "127.0.0.1, ::1 or localhost)"
    )


class _RefusedRedirect(urllib.error.URLError):
    pass


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only when it keeps the scheme and the host."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (new.scheme.lower(), new.hostname) != (old.scheme.lower(), old.hostname):
            raise _RefusedRedirect(
                f"it redirected to {visible(newurl)!r}, another scheme or host, which is "
                "not followed for metadata"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_metadata(
    url: str, *, tls: ssl.SSLContext | None = None, agent: str = "mobile-sso check-response"
) -> bytes | UnreadableMetadata:
    """GET federation metadata from an https URL (http to loopback only), following no
    redirect to another scheme or host, reading at most MAX_DOCUMENT_BYTES + 1 bytes; why
    not, when it cannot be had."""
    problem = untrusted_metadata_url(url)
    if problem is not None:
        return UnreadableMetadata(problem)
    shown = visible(url)
    # The scheme is https (or http to loopback); the URL is the user's own deployment's.
    request = urllib.request.Request(url, headers={"User-Agent": agent})  # noqa: S310
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=tls), _SameOriginRedirects()
    )
    try:
        with opener.open(request, timeout=METADATA_TIMEOUT_SECONDS) as answer:
            document: bytes = answer.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return UnreadableMetadata(f"the metadata URL answered HTTP {exc.code}: {shown}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return UnreadableMetadata(
            f"the metadata URL could not be fetched ({visible(str(reason))}): {shown}"
        )
    return document


def _print_table(report: Report) -> None:
    out = console()
    # Messages quote the input (issuers, names, Entra's status text): controls are shown.
    rows = [
        finding.as_dict() | {"message": visible(finding.message), "fix": visible(finding.fix)}
        for finding in report.findings
    ]
    print_findings(out, rows)
    errors = sum(1 for f in report.findings if f.severity == "error")
    if not report.judged:
        out.print("Could not judge this response: the check itself failed.", style="bold red")
    elif report.accepted:
        out.print("Cognito would accept this response.", style="green")
    else:
        out.print(f"Cognito would refuse this response: {errors} error(s).", style="bold red")
