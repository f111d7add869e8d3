"""`mobile-sso try-signin`: sign in for real through the deployed hosted UI, and show what
the app will receive. The sign-in itself is `try_signin`; this module picks the client and
identity provider from the config and the stack's outputs, and prints."""

from __future__ import annotations

import json
import os
import ssl
import webbrowser
from collections.abc import Callable, Mapping
from typing import Annotated, NoReturn

import httpx
import typer
from rich.table import Table
from rich.text import Text

from mobile_sso.cli_common import (
    ConfigDirOption,
    ConfigFileOption,
    OutputsFileOption,
    load_environment,
    stack_outputs,
)
from mobile_sso.config import is_loopback_url
from mobile_sso.entra_graph import ca_bundle
from mobile_sso.export import (
    AUTHORIZATION_CODE,
    AppClientOutputs,
    ExportError,
    parse_client,
    parse_stack,
)
from mobile_sso.findings_table import console, print_findings
from mobile_sso.terminal import visible
from mobile_sso.try_signin import (
    Endpoints,
    Opener,
    SignInFailed,
    SignInResult,
    SignInSetupError,
    SignInTarget,
    app_view,
    result_as_dict,
    sign_in,
)

# How the command opens the system browser; tests put a Playwright-driven browser here.
open_browser: Opener = webbrowser.open

DEFAULT_TIMEOUT_SECONDS = 300.0  # time to type a password and pass MFA
HTTP_TIMEOUT_SECONDS = 15.0

CLI_CLIENT_EXAMPLE = """  - name: cli
    platform: web
    callback_urls: ["http://localhost:8400/callback"]
    sign_out_urls: ["http://localhost:8400/signed-out"]"""


class _Unusable(Exception):
    """The stack cannot be signed in to this way; the message says what to change."""


def try_signin_command(
    *,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            metavar="NAME",
            help="The environment: config/<env>.yaml and its stack's outputs.",
            show_default=False,
        ),
    ],
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            metavar="NAME",
            help="The app client to sign in with; default: the only client with a loopback "
            "callback URL (http://localhost:PORT/...).",
            show_default=False,
        ),
    ] = None,
    idp: Annotated[
        str | None,
        typer.Option(
            "--idp",
            metavar="NAME",
            help="The identity provider (Entra tenant) to sign in through; default: the "
            "client's only one.",
            show_default=False,
        ),
    ] = None,
    outputs_file: OutputsFileOption = None,
    config_file: ConfigFileOption = None,
    config_dir: ConfigDirOption = None,
    no_browser: Annotated[
        bool,
        typer.Option(
            "--no-browser",
            help="Print the sign-in URL instead of opening the system browser (open it in a "
            "browser on this machine: the answer comes back to localhost).",
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=1,
            help="How long to wait for the browser to come back.",
        ),
    ] = DEFAULT_TIMEOUT_SECONDS,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"signed_in": true, "app_sees": {...}, "id_token_claims": {...}, ...} '
            'or {"signed_in": false, "stage", "message", "error", "error_description", '
            '"advice": [...]}.',
        ),
    ] = False,
    show_tokens: Annotated[
        bool,
        typer.Option(
            "--show-tokens",
            help="Also print the raw ID, access and refresh tokens. They are credentials: "
            "keep them out of logs, tickets and chat.",
        ),
    ] = False,
) -> None:
    """Sign in for real, the way the mobile app will, and show what the app receives.

    Opens the system browser at the deployed hosted UI with identity_provider set, so it goes
    straight to Microsoft's sign-in (authorization code grant with PKCE). The answer comes
    back to the client's loopback callback URL on this machine (http://localhost:PORT/...;
    Cognito matches callback URLs exactly, so the port is the registered one). Then the code
    is exchanged at /oauth2/token, the ID token is verified (signature against the pool's
    JWKS, issuer, audience, expiry, nonce) and its claims are printed: email, name, groups,
    identities, the identity provider. Errors sent back by Cognito are shown with the
    doctor's advice. Tokens are not printed unless --show-tokens is given.

    Needs an app client with a loopback callback URL (e.g. a `cli` client, allowed by
    default only with stage dev). Exit code 0: signed in; 1: the sign-in failed; 2: bad usage.

    \b
    Examples:
      mobile-sso try-signin --env dev
      mobile-sso try-signin --env dev --client cli --idp ContosoEU --json
    """
    config = load_environment(env, config_file, config_dir=config_dir)
    try:
        outputs = stack_outputs(env, config, outputs_file)
        target = _target(outputs, client, idp)
    except (ExportError, _Unusable, SignInSetupError) as error:
        _fail_before_start(str(error), as_json)
    opener = None if no_browser else open_browser
    bundle = ca_bundle()
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=bundle) if bundle else True
    with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, verify=verify) as http_client:
        try:
            result = sign_in(
                target,
                opener=opener,
                timeout=timeout,
                http_client=http_client,
                show_url=_show_url(timeout),
                env=env,
            )
        except SignInSetupError as error:
            _fail_before_start(str(error), as_json)
        except SignInFailed as failure:
            _print_failure(failure, as_json)
            raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(json.dumps(result_as_dict(result, with_tokens=show_tokens), indent=2))
    else:
        _print_result(result, show_tokens=show_tokens)


def _loopback_callbacks(app_client: AppClientOutputs) -> list[str]:
    return [
        url for url in app_client.callback_urls if url.startswith("http:") and is_loopback_url(url)
    ]


def _target(outputs: Mapping[str, str], client: str | None, idp: str | None) -> SignInTarget:
    stack = parse_stack(outputs)
    clients = {name: parse_client(outputs, name) for name in stack.client_names}
    chosen = _choose_client(clients, client)
    loopback = _loopback_callbacks(chosen)
    if not loopback:
        raise _Unusable(
            f"app client {chosen.name!r} has no loopback callback URL (its callback URLs: "
            f"{', '.join(chosen.callback_urls)}); add one such as "
            "http://localhost:8400/callback to its callback_urls and deploy, or pick another "
            "client with --client"
        )
    if AUTHORIZATION_CODE not in chosen.oauth_flows:
        raise _Unusable(
            f"app client {chosen.name!r} does not allow the authorization code grant, which "
            "the mobile apps and try-signin use: add authorization_code to its oauth_flows"
        )
    if "openid" not in chosen.scopes:
        raise _Unusable(
            f"app client {chosen.name!r} lacks the scope openid, so Cognito issues no ID "
            "token: add openid to its scopes"
        )
    endpoints = Endpoints.for_pool(
        domain=stack.cognito_domain,
        region=stack.region,
        user_pool_id=stack.user_pool_id,
        env=os.environ,
    )
    return SignInTarget(
        endpoints=endpoints,
        client_name=chosen.name,
        client_id=chosen.client_id,
        redirect_uri=loopback[0],
        scopes=chosen.scopes,
        identity_provider=_choose_provider(chosen, idp),
    )


def _choose_client(clients: Mapping[str, AppClientOutputs], client: str | None) -> AppClientOutputs:
    if client is not None:
        if client not in clients:
            raise typer.BadParameter(
                f"no app client {client!r} in the stack; known: {', '.join(clients)}",
                param_hint="--client",
            )
        return clients[client]
    usable = [c for c in clients.values() if _loopback_callbacks(c)]
    if len(usable) > 1:
        raise typer.BadParameter(
            f"several app clients have a loopback callback URL "
            f"({', '.join(c.name for c in usable)}); pick one",
            param_hint="--client",
        )
    if not usable:
        raise _Unusable(
            "no app client of the stack has a loopback callback URL, where try-signin "
            "receives the answer. Add a client such as\n"
            + CLI_CLIENT_EXAMPLE
            + "\nto the config's clients (allowed by default in stage dev only; elsewhere "
            "set allow_loopback_callbacks: true on it) and deploy"
        )
    return usable[0]


def _choose_provider(chosen: AppClientOutputs, idp: str | None) -> str:
    offered = chosen.saml_providers
    if idp is not None:
        if idp not in offered:
            raise typer.BadParameter(
                f"app client {chosen.name!r} does not offer {idp!r}; it offers: "
                f"{', '.join(offered) or 'none'}",
                param_hint="--idp",
            )
        return idp
    if len(offered) > 1:
        raise typer.BadParameter(
            f"app client {chosen.name!r} offers several identity providers "
            f"({', '.join(offered)}); pick one",
            param_hint="--idp",
        )
    if not offered:
        raise _Unusable(
            f"app client {chosen.name!r} offers no Entra ID identity provider: list one in "
            "its identity_providers (or leave the key out to offer all) and deploy"
        )
    return offered[0]


def _fail_before_start(message: str, as_json: bool) -> NoReturn:
    if as_json:
        document = {"signed_in": False, "stage": "setup", "message": message, "advice": []}
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(f"error: {visible(message)}", err=True)
    raise typer.Exit(code=1)


def _show_url(timeout: float) -> Callable[[str, bool], None]:
    def show(url: str, opened: bool) -> None:
        err = console(stderr=True)
        if opened:
            err.print(f"Opened the browser; sign in there (waiting up to {timeout:g} s).")
            err.print("If no browser window appeared, open this URL on this machine:")
        else:
            err.print(
                f"Open this URL in a browser on this machine and sign in (waiting up to "
                f"{timeout:g} s):"
            )
        # Unwrapped, so that the URL can be copied whole.
        err.print(url, soft_wrap=True)

    return show


def _print_failure(failure: SignInFailed, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(failure.as_dict(), indent=2))
        return
    out = console()
    # The message quotes what the network sent (error_description, claims, key ids): its
    # control characters are shown, not obeyed. --json escapes them itself and stays exact.
    out.print(
        f"Sign-in failed ({failure.stage}): {visible(failure.message)}",
        style="bold red",
        soft_wrap=True,
    )
    print_findings(
        out,
        [
            {"category": a.category, "severity": "error", "message": a.means, "fix": a.fix}
            for a in failure.advice
        ],
    )


def _print_result(result: SignInResult, *, show_tokens: bool) -> None:
    out = console()
    target = result.target
    out.print(
        visible(
            f"Signed in through {target.identity_provider} with app client "
            f"{target.client_name} ({target.client_id})."
        ),
        style="green",
    )
    table = Table(title="What the app receives (verified ID token)", title_justify="left")
    table.add_column("Claim", no_wrap=True)
    table.add_column("Value", overflow="fold")
    for label, value in app_view(result):
        table.add_row(Text(label), Text(visible(value)))
    out.print(table)
    out.print("Verified:")
    for check in result.verified:
        out.print(f"- {visible(check)}", soft_wrap=True)
    out.print("All ID token claims: --json. Raw tokens: --show-tokens (they are credentials).")
    if show_tokens:
        out.print()
        out.print("ID token:", visible(result.tokens.id_token), soft_wrap=True)
        out.print("Access token:", visible(result.tokens.access_token), soft_wrap=True)
        if result.tokens.refresh_token:
            out.print("Refresh token:", visible(result.tokens.refresh_token), soft_wrap=True)
