"""`mobile-sso try-signin` in a real headless browser (the system's Chrome or Chromium,
found by tests/browser.py, driven by Playwright) against the emulated hosted UI, token
endpoint, JWKS and Entra SAML IdP.

The browser follows the real chain: /oauth2/authorize -> Entra's page, which auto-posts a
signed SAMLResponse -> /saml2/idpresponse -> the loopback callback URL the command listens on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from typer.testing import CliRunner, Result

from mobile_sso import try_signin_cli
from mobile_sso.cli import app
from mobile_sso.try_signin import Opener
from tests.browser import find_browser, require_browser
from tests.signin_emulator import Behaviour, SignInEmulator
from tests.signin_emulator.environment import (
    Environment,
    free_port,
    point_at,
    write_environment,
)
from tests.signin_emulator.server import RELAY_STATE_ERROR

# Without the background-networking flags Chromium keeps calling Google's services, which
# floods a machine without a route to them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_TIMEOUT_MS = 10_000
SIGN_IN_TIMEOUT = "15"  # seconds; a sign-in against the emulator takes well under one


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_browser(find_browser())  # skips without one, fails in CI
    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary profile (user-data dir) of its own.
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=STEP_TIMEOUT_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    fresh = browser.new_context()
    fresh.set_default_timeout(STEP_TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def environment(tmp_path: Path) -> Environment:
    return write_environment(tmp_path)


def open_in(context: BrowserContext) -> Opener:
    """The system browser, as the command sees it: open the URL and return at once."""

    def open_url(url: str) -> bool:
        context.new_page().goto(url, wait_until="commit")
        return True

    return open_url


def run(
    environment: Environment,
    emulator: SignInEmulator,
    context: BrowserContext,
    monkeypatch: pytest.MonkeyPatch,
    *extra: str,
    opener: Opener | None = None,
) -> Result:
    point_at(monkeypatch, emulator)
    monkeypatch.setattr(try_signin_cli, "open_browser", opener or open_in(context))
    args = [*environment.args, "--timeout", SIGN_IN_TIMEOUT, *extra]
    return CliRunner().invoke(app, args)


def test_sign_in_prints_the_claims_the_app_receives(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Signed in through EntraID with app client cli" in out
    for shown in ("alice@contoso.com", "Alice Example", "admins, mobile-users", "SAML"):
        assert shown in out
    assert "EntraID_5b2b8e3c-6f6e-4a7f-9d8b-0d2c0d8f1a11" in out
    assert f"issuer {emulator.issuer}" in out
    assert "nonce" in out


def test_sign_in_prints_no_token(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "tokens" not in document
    assert "eyJ" not in result.output  # the start of every JWT


def test_sign_in_as_json_carries_the_verified_claims(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["signed_in"] is True
    assert document["signed_in_through"] == "EntraID"
    assert document["app_sees"]["Email"] == "alice@contoso.com"
    assert document["app_sees"]["Groups"] == "admins, mobile-users"
    claims = document["id_token_claims"]
    assert claims["aud"] == "3q9v1k7m2c8x5b0n4h6j2l1p0s"
    assert claims["identities"][0]["providerType"] == "SAML"
    assert document["access_token_claims"]["scope"] == "openid email profile"


def test_show_tokens_prints_the_tokens_the_app_would_hold(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json", "--show-tokens")
    assert result.exit_code == 0, result.output
    tokens = json.loads(result.stdout)["tokens"]
    _, payload, _ = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["email"] == "alice@contoso.com"
    assert tokens["access_token"].count(".") == 2
    assert tokens["refresh_token"]


def test_localhost_callback_url_is_answered(
    tmp_path: Path, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Registered as localhost (the usual spelling), listened on at 127.0.0.1: the browser
    # falls back to it when nothing answers on ::1.
    environment = write_environment(
        tmp_path, callback_url=f"http://localhost:{free_port()}/callback"
    )
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["app_sees"]["Email"] == "alice@contoso.com"


def test_code_is_redeemed_with_the_verifier_of_the_challenge_sent(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch)
    assert result.exit_code == 0, result.output
    (token_request,) = emulator.token_requests
    assert token_request["redirect_uri"] == environment.callback_url
    assert 43 <= len(token_request["code_verifier"]) <= 128
    assert "client_secret" not in token_request


def test_answer_with_another_state_is_ignored_and_its_code_unused(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = Behaviour(callback_state="state-of-an-attacker")
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json", "--timeout", "2")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "browser", failure["message"]
    assert "It ignored 1 request without this sign-in's state" in failure["message"]
    assert emulator.token_requests == []


def test_error_sent_to_the_callback_before_the_real_answer_does_not_end_the_sign_in(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another program or page on this machine requests the callback URL first.
    forged: list[httpx.Response] = []

    def forge_then_open(url: str) -> bool:
        answer = {"error": "access_denied", "error_description": "\x1b[2JSigned in"}
        forged.append(httpx.get(environment.callback_url, params=answer))
        return open_in(context)(url)

    with environment.emulator() as emulator:
        result = run(environment, emulator, context, monkeypatch, opener=forge_then_open)
    assert result.exit_code == 0, result.output
    assert "Signed in through EntraID with app client cli" in result.stdout
    assert [response.status_code for response in forged] == [400]


def test_verifier_that_does_not_match_the_challenge_is_reported(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token endpoint holds another challenge for the code, as if the request had been
    # altered on its way to the hosted UI.
    behaviour = Behaviour(code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "token", failure["message"]
    assert failure["error"] == "invalid_grant"
    assert "code_verifier does not match the code_challenge" in failure["message"]


def test_error_redirect_is_shown_with_the_doctor_advice(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = Behaviour(relay_state="not-the-relay-state-cognito-sent")
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "callback", failure["message"]
    assert failure["error"] == "invalid_request"
    assert failure["error_description"] == RELAY_STATE_ERROR
    (advice,) = failure["advice"]
    assert advice["category"] == "idp"
    assert "not from Entra's My Apps" in advice["fix"]
    assert "mobile-sso doctor --env test" in advice["fix"]
    assert emulator.token_requests == []


def test_error_redirect_is_printed_as_a_table(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = Behaviour(relay_state="not-the-relay-state-cognito-sent")
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch)
    assert result.exit_code == 1
    assert "Sign-in failed (callback)" in result.stdout
    assert "Invalid samlResponse or relayState" in result.stdout
    assert "Category" in result.stdout


def test_error_redirect_without_state_is_named_when_the_wait_ends(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = Behaviour(relay_state="not-the-relay-state-cognito-sent", errors_without_state=True)
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json", "--timeout", "2")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "browser", failure["message"]
    assert (
        f"The last error among them, invalid_request: {RELAY_STATE_ERROR}, is not trusted"
    ) in failure["message"]
    assert failure["error"] == ""
    assert emulator.token_requests == []


def test_token_signed_by_a_key_the_pool_does_not_list_is_refused(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with environment.emulator(behaviour=Behaviour(unknown_signing_key=True)) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "verify", failure["message"]
    assert failure["message"] == (
        "the ID token is signed by the key 'not-a-pool-key', which is not one of the user "
        "pool's signing keys (emulator-key-1): it was not issued by this user pool"
    )


def test_expired_token_is_refused(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    behaviour = Behaviour(token_lifetime=-dt.timedelta(hours=2))
    with environment.emulator(behaviour=behaviour) as emulator:
        result = run(environment, emulator, context, monkeypatch, "--json")
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "verify", failure["message"]
    assert failure["message"].startswith("the ID token expired at ")


def test_closed_browser_ends_after_the_timeout_with_a_clear_message(
    environment: Environment, context: BrowserContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def open_then_close(url: str) -> bool:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("input[name=login]")  # Entra's sign-in page
        page.close()  # the user gives up
        return True

    with environment.emulator(behaviour=Behaviour(idp_waits=True)) as emulator:
        point_at(monkeypatch, emulator)
        monkeypatch.setattr(try_signin_cli, "open_browser", open_then_close)
        started = time.monotonic()
        result = CliRunner().invoke(app, [*environment.args, "--timeout", "2"])
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert f"no answer on {environment.callback_url} within 2 seconds" in result.stdout
    assert "the browser was closed before the sign-in finished" in result.stdout
    assert elapsed < 10
