"""try-signin without a browser: PKCE, state, nonce, token verification, the loopback
receiver, the code exchange, and the command's choices before a browser is opened."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from mobile_sso import doctor_checks, try_signin_cli
from mobile_sso.cli import app
from mobile_sso.try_signin import (
    COGNITO_IDP_ENDPOINT_VARIABLE,
    HOSTED_UI_ENDPOINT_VARIABLE,
    MAX_ANSWER_BYTES,
    AuthorizationRequest,
    Callback,
    Endpoints,
    LoopbackReceiver,
    Opener,
    SignInFailed,
    SignInResult,
    SignInSetupError,
    SignInTarget,
    TokenSet,
    advice_for,
    app_view,
    code_challenge,
    exchange_code,
    fetch_jwks,
    loopback_address,
    new_code_verifier,
    read_callback,
    verify_access_token,
    verify_id_token,
)
from tests.signin_emulator.environment import free_port, write_environment
from tests.signin_emulator.server import jwk_of, sign_jwt

POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [jwk_of(POOL_KEY, "pool-key")]}
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Qw3RtY7uP"
CLIENT_ID = "3q9v1k7m2c8x5b0n4h6j2l1p0s"
NONCE = "n-0S6_WzA2Mj"
ENDPOINTS = Endpoints.for_pool(
    domain="auth.example.com", region="eu-west-1", user_pool_id="eu-west-1_Qw3RtY7uP", env={}
)


def target(redirect_uri: str = "http://localhost:8400/callback") -> SignInTarget:
    return SignInTarget(
        endpoints=ENDPOINTS,
        client_name="cli",
        client_id=CLIENT_ID,
        redirect_uri=redirect_uri,
        scopes=("openid", "email", "profile"),
        identity_provider="EntraID",
    )


def id_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "0b472d71-447a-59d3-8963-9dcc7c5b6f93",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "exp": now + 3600,
        "nonce": NONCE,
        "email": "alice@contoso.com",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def token(
    claims: Mapping[str, Any], key: rsa.RSAPrivateKey = POOL_KEY, kid: str = "pool-key"
) -> str:
    return sign_jwt(claims, key, kid)


def verify(raw: str) -> dict[str, Any]:
    return verify_id_token(raw, JWKS, issuer=ISSUER, client_id=CLIENT_ID, nonce=NONCE)


def refusal(raw: str) -> str:
    with pytest.raises(SignInFailed) as caught:
        verify(raw)
    assert caught.value.stage == "verify"
    return caught.value.message


# --- PKCE, state, nonce ----------------------------------------------------------------


def test_code_challenge_is_rfc7636_appendix_b_s256() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_code_verifier_is_43_to_128_unreserved_characters() -> None:
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )


def test_authorization_url_goes_straight_to_the_identity_provider_with_pkce() -> None:
    request = AuthorizationRequest.new(target())
    url = urlsplit(request.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://auth.example.com/oauth2/authorize"
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://localhost:8400/callback",
        "identity_provider": "EntraID",
        "scope": "openid email profile",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": code_challenge(request.code_verifier),
        "code_challenge_method": "S256",
    }


def test_every_sign_in_has_its_own_state_nonce_and_verifier() -> None:
    first, second = AuthorizationRequest.new(target()), AuthorizationRequest.new(target())
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier


def test_answer_with_another_state_is_refused_before_its_error_is_believed() -> None:
    request = AuthorizationRequest.new(target())
    forged = Callback({"state": "attacker", "error": "invalid_request", "code": "c"})
    with pytest.raises(SignInFailed) as caught:
        read_callback(request, forged, "dev")
    assert caught.value.stage == "callback"
    assert "carries a state that is not this sign-in's" in caught.value.message
    assert caught.value.error == ""


def test_answer_without_state_is_refused() -> None:
    request = AuthorizationRequest.new(target())
    with pytest.raises(SignInFailed, match="not this sign-in's"):
        read_callback(request, Callback({"code": "c"}), "dev")


def test_error_without_state_is_refused_like_any_foreign_answer() -> None:
    request = AuthorizationRequest.new(target())
    with pytest.raises(SignInFailed) as caught:
        read_callback(request, Callback({"error": "invalid_request"}), "dev")
    assert "carries a state that is not this sign-in's" in caught.value.message
    assert caught.value.error == ""


def test_answer_with_this_state_gives_its_code() -> None:
    request = AuthorizationRequest.new(target())
    assert read_callback(request, Callback({"state": request.state, "code": "c0de"}), "dev") == (
        "c0de"
    )


def test_error_answer_carries_cognito_words_and_the_doctor_advice() -> None:
    request = AuthorizationRequest.new(target())
    answer = Callback(
        {
            "state": request.state,
            "error": "invalid_request",
            "error_description": "Invalid samlResponse or relayState from identity provider",
        }
    )
    with pytest.raises(SignInFailed) as caught:
        read_callback(request, answer, "prod")
    failure = caught.value
    assert failure.message == (
        "Cognito sent the sign-in back with an error: invalid_request: Invalid samlResponse "
        "or relayState from identity provider"
    )
    (advice,) = failure.advice
    assert advice.category == "idp"
    assert advice.means.startswith(doctor_checks.BAD_RELAY_STATE)
    assert "mobile-sso doctor --env prod" in advice.fix


@pytest.mark.parametrize(
    ("error", "description", "category"),
    [
        ("server_error", "Invalid SAML response received: SAML Assertion signature is "
         "invalid. ", "metadata"),
        ("invalid_request", "Invalid user attributes: email: The attribute is required",
         "claims"),
        ("access_denied", "AADSTS50105: the user is not assigned", "assignment"),
        ("server_error", "AADSTS50011: reply URL", "entra_app"),
        ("redirect_mismatch", "", "client"),
        ("invalid_scope", "", "client"),
    ],
)  # fmt: skip
def test_error_is_mapped_to_the_doctor_category_that_checks_its_cause(
    error: str, description: str, category: str
) -> None:
    assert advice_for(error, description)[0].category == category


def test_error_without_specific_advice_points_to_the_doctor() -> None:
    (advice,) = advice_for("temporarily_unavailable", "", "dev")
    assert advice.fix == "run mobile-sso doctor --env dev"


# --- the ID and access tokens ------------------------------------------------------------


def test_valid_id_token_gives_its_claims() -> None:
    assert verify(token(id_claims()))["email"] == "alice@contoso.com"


def test_id_token_with_another_nonce_is_refused() -> None:
    assert "nonce is not the one this sign-in sent" in refusal(token(id_claims(nonce="other")))


def test_id_token_without_nonce_is_refused() -> None:
    assert "nonce is not the one this sign-in sent" in refusal(token(id_claims(nonce=None)))


def test_id_token_signed_by_a_key_the_pool_does_not_list_is_refused() -> None:
    assert refusal(token(id_claims(), OTHER_KEY, "stranger")) == (
        "the ID token is signed by the key 'stranger', which is not one of the user pool's "
        "signing keys (pool-key): it was not issued by this user pool"
    )


def test_id_token_forged_under_the_pools_key_id_is_refused() -> None:
    assert "signature does not verify" in refusal(token(id_claims(), OTHER_KEY, "pool-key"))


def test_expired_id_token_is_refused_with_the_instant() -> None:
    message = refusal(token(id_claims(exp=1_700_000_000, iat=1_699_996_400)))
    assert message.startswith("the ID token expired at 2023-11-14T22:13:20+00:00")


def test_id_token_within_the_clock_leeway_is_accepted() -> None:
    assert verify(token(id_claims(exp=int(time.time()) - 30)))["token_use"] == "id"


def test_id_token_for_another_client_is_refused() -> None:
    message = refusal(token(id_claims(aud="another-client")))
    assert message == (
        f"the ID token is for the audience 'another-client', not for the app client {CLIENT_ID}"
    )


def test_id_token_of_another_pool_is_refused() -> None:
    other = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"
    assert refusal(token(id_claims(iss=other))) == (
        f"the ID token was issued by {other!r}, not by this user pool ({ISSUER})"
    )


def test_access_token_passed_off_as_id_token_is_refused() -> None:
    assert "token_use 'access', not 'id'" in refusal(token(id_claims(token_use="access")))


def test_token_signed_with_another_algorithm_is_refused() -> None:
    forged = sign_jwt(id_claims(), POOL_KEY, "pool-key").split(".")
    header = "eyJraWQiOiJwb29sLWtleSIsImFsZyI6IkhTMjU2In0"  # {"kid":"pool-key","alg":"HS256"}
    assert refusal(".".join([header, *forged[1:]])) == (
        "the ID token is signed with 'HS256'; Cognito signs with RS256"
    )


def test_access_token_of_another_client_is_refused() -> None:
    claims = id_claims(token_use="access", aud=None, nonce=None, client_id="another-client")
    with pytest.raises(SignInFailed, match="not an access token of the app client"):
        verify_access_token(token(claims), JWKS, issuer=ISSUER, client_id=CLIENT_ID)


# --- endpoints ---------------------------------------------------------------------------


def test_endpoints_are_cognitos_for_the_pool() -> None:
    endpoints = Endpoints.for_pool(
        domain="auth.example.com", region="eu-west-1", user_pool_id="eu-west-1_Qw3RtY7uP"
    )
    assert endpoints.authorize == "https://auth.example.com/oauth2/authorize"
    assert endpoints.token == "https://auth.example.com/oauth2/token"
    assert endpoints.issuer == ISSUER
    assert endpoints.jwks == f"{ISSUER}/.well-known/jwks.json"


def test_endpoints_can_point_at_an_emulator_on_this_machine() -> None:
    env = {
        HOSTED_UI_ENDPOINT_VARIABLE: "http://127.0.0.1:9000",
        COGNITO_IDP_ENDPOINT_VARIABLE: "http://localhost:9001/",
    }
    endpoints = Endpoints.for_pool(domain="d", region="eu-west-1", user_pool_id="p", env=env)
    assert endpoints.token == "http://127.0.0.1:9000/oauth2/token"
    assert endpoints.jwks == "http://localhost:9001/p/.well-known/jwks.json"


@pytest.mark.parametrize(
    "value", ["https://evil.example.com", "http://10.0.0.1:9000", "ftp://127.0.0.1"]
)
def test_endpoint_override_off_this_machine_is_refused(value: str) -> None:
    with pytest.raises(SignInSetupError, match=f"environment {HOSTED_UI_ENDPOINT_VARIABLE}="):
        Endpoints.for_pool(
            domain="d", region="r", user_pool_id="p", env={HOSTED_UI_ENDPOINT_VARIABLE: value}
        )


# --- the loopback receiver ---------------------------------------------------------------


def test_loopback_address_is_the_callback_urls_port_and_path() -> None:
    address = loopback_address("http://localhost:8400/callback")
    assert (address.host, address.port, address.path) == ("127.0.0.1", 8400, "/callback")


def test_loopback_address_without_port_is_port_80() -> None:
    assert loopback_address("http://127.0.0.1/cb").port == 80


@pytest.mark.parametrize("url", ["https://app.example.com/cb", "myapp://callback"])
def test_callback_url_off_this_machine_cannot_be_listened_on(url: str) -> None:
    with pytest.raises(SignInSetupError, match="is not a loopback callback URL"):
        loopback_address(url)


def callback_url() -> str:
    return f"http://127.0.0.1:{free_port()}/callback"


def test_receiver_takes_the_first_answer_on_its_path() -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s") as receiver:
        assert httpx.get(url.replace("/callback", "/favicon.ico")).status_code == 404
        first = httpx.get(f"{url}?code=one&state=s")
        second = httpx.get(f"{url}?code=two&state=s")
        answer = receiver.wait(1)
    assert first.status_code == 200
    assert "Return to the terminal" in first.text
    assert "Already answered" in second.text
    assert answer == Callback({"code": "one", "state": "s"})


@pytest.mark.parametrize(
    "query",
    [
        "error=access_denied&error_description=AADSTS50105",
        "state=another&error=access_denied",
        "state=&code=c0de",
        "state=%C3%A9t%C3%A9&code=c0de",
        "state=s&code=one&code=two",
        "state=s&state=s&code=c0de",
    ],
    ids=["no-state", "other-state", "empty-state", "non-ascii-state", "two-codes", "two-states"],
)
def test_answer_without_this_sign_ins_state_gets_400_and_the_wait_goes_on(query: str) -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s") as receiver:
        foreign = httpx.get(f"{url}?{query}")
        assert receiver.wait(0) is None
        own = httpx.get(f"{url}?state=s&code=c0de")
        answer = receiver.wait(5)
    assert foreign.status_code == 400
    assert "Not this sign-in&#x27;s answer" in foreign.text
    assert own.status_code == 200
    assert answer == Callback({"state": "s", "code": "c0de"})
    assert receiver.refused == 1


def test_error_without_state_is_shown_in_the_browser_and_kept_untrusted() -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s") as receiver:
        page = httpx.get(url, params={"error": "server_error", "error_description": "<b>x</b>"})
        assert receiver.wait(0) is None
    assert page.status_code == 400
    assert "The error it carried: server_error: &lt;b&gt;x&lt;/b&gt;" in page.text
    assert receiver.ignored_error == Callback(
        {"error": "server_error", "error_description": "<b>x</b>"}
    )


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT"])
def test_callback_by_another_method_than_get_does_not_end_the_wait(method: str) -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s") as receiver:
        response = httpx.request(method, f"{url}?state=s&code=c0de")
        assert receiver.wait(0) is None
    assert response.status_code == 501


def raw_get(url: str, target: str) -> str:
    """The status line of a GET of `target`, sent as raw bytes (httpx refuses long URLs)."""
    address = loopback_address(url)
    with socket.create_connection((address.host, address.port), timeout=5) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        return connection.makefile("rb").readline().decode().strip()


def test_oversized_request_line_is_refused_and_the_wait_goes_on() -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s") as receiver:
        status = raw_get(url, f"/callback?state=s&error=x&error_description={'A' * 70_000}")
        assert receiver.wait(0) is None
        httpx.get(f"{url}?state=s&code=c0de")
        answer = receiver.wait(5)
    assert status.split()[1] == "414"
    assert answer == Callback({"state": "s", "code": "c0de"})


def test_silent_connection_does_not_hold_up_the_answer() -> None:
    url = callback_url()
    port = loopback_address(url).port
    with (
        LoopbackReceiver(url, state="s") as receiver,
        socket.create_connection(("127.0.0.1", port)) as silent,
    ):
        silent.sendall(b"GET /callback?state=s")  # and never finishes the request line
        own = httpx.get(f"{url}?state=s&code=c0de", timeout=5)
        answer = receiver.wait(5)
    assert own.status_code == 200
    assert answer == Callback({"state": "s", "code": "c0de"})


def test_receiver_logs_and_prints_nothing_of_the_requests(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    url = callback_url()
    caplog.set_level(logging.DEBUG)
    with LoopbackReceiver(url, state="s") as receiver:
        httpx.get(f"{url}x?code=secret-code-1")
        httpx.get(f"{url}?state=other&code=secret-code-2")
        raw_get(url, f"/callback?state=s&code=secret-code-3&pad={'A' * 70_000}")
        httpx.post(f"{url}?state=s&code=secret-code-4")
        httpx.get(f"{url}?state=s&code=secret-code-5")
        assert receiver.wait(5) is not None
    out, err = capfd.readouterr()
    assert "secret-code" not in out + err
    # The test's own client (httpx, httpcore) logs its URLs; nothing else may.
    received = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert not [r for r in received if "secret-code" in r.getMessage()]


def test_port_in_use_is_named_with_what_to_do() -> None:
    url = callback_url()
    with LoopbackReceiver(url, state="s"), pytest.raises(SignInSetupError) as caught:
        LoopbackReceiver(url, state="s")
    assert "cannot listen on 127.0.0.1 port" in str(caught.value)
    assert "Stop the program using that port" in str(caught.value)


# --- the code exchange -------------------------------------------------------------------


def exchange(status: int, body: Mapping[str, Any]) -> tuple[TokenSet, dict[str, str]]:
    sent: dict[str, str] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        sent.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        return httpx.Response(status, json=dict(body))

    request = AuthorizationRequest.new(target())
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        tokens = exchange_code(request, "c0de", client)
    assert sent["code_verifier"] == request.code_verifier
    return tokens, sent


def test_code_is_exchanged_as_a_public_client_with_the_verifier() -> None:
    tokens, sent = exchange(200, {"id_token": "i", "access_token": "a", "expires_in": 3600})
    assert tokens.id_token == "i"
    assert sent["grant_type"] == "authorization_code"
    assert sent["redirect_uri"] == "http://localhost:8400/callback"
    assert "client_secret" not in sent
    assert repr(tokens) == "TokenSet(<redacted>)"


def test_refused_code_says_what_invalid_grant_means() -> None:
    with pytest.raises(SignInFailed) as caught:
        exchange(400, {"error": "invalid_grant"})
    assert caught.value.stage == "token"
    assert caught.value.message.startswith(
        "the token endpoint refused the code (HTTP 400 invalid_grant): the code_verifier does "
        "not match the code_challenge"
    )


class Oversized:
    """An answer of 64 MB that counts how much of it the client pulled."""

    chunk = 65536

    def __init__(self) -> None:
        self.pulled = 0

    def chunks(self) -> Iterator[bytes]:
        for _ in range(1024):
            self.pulled += self.chunk
            yield b" " * self.chunk

    def client(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, content=self.chunks()))
        )


def test_oversized_token_answer_is_dropped_while_reading() -> None:
    answer = Oversized()
    with answer.client() as client, pytest.raises(SignInFailed) as caught:
        exchange_code(AuthorizationRequest.new(target()), "c0de", client)
    assert caught.value.stage == "token"
    assert caught.value.message == (
        f"the token endpoint {ENDPOINTS.token} answered more than {MAX_ANSWER_BYTES} bytes, "
        "far more than tokens take: refused"
    )
    assert answer.pulled <= MAX_ANSWER_BYTES + answer.chunk


def test_oversized_jwks_is_dropped_while_reading() -> None:
    answer = Oversized()
    with answer.client() as client, pytest.raises(SignInFailed) as caught:
        fetch_jwks(ENDPOINTS, client)
    assert caught.value.stage == "verify"
    assert caught.value.message == (
        f"the pool's signing keys at {ENDPOINTS.jwks} answered more than {MAX_ANSWER_BYTES} "
        "bytes, far more than a JWKS takes: refused"
    )
    assert answer.pulled <= MAX_ANSWER_BYTES + answer.chunk


def test_jwks_answer_is_read_whole_when_within_the_limit() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=JWKS))
    with httpx.Client(transport=transport) as client:
        assert fetch_jwks(ENDPOINTS, client) == JWKS


# --- what the app sees -------------------------------------------------------------------


def test_app_view_reads_identities_given_as_a_json_string() -> None:
    identities = [{"providerName": "EntraID", "providerType": "SAML", "userId": "u-1"}]
    claims = id_claims(identities=json.dumps(identities), email_verified=False)
    result = SignInResult(target(), claims, {"scope": "openid"}, TokenSet("i", "a", None, None))
    rows = dict(app_view(result))
    assert rows["Identity provider"] == "EntraID"
    assert rows["Email verified"] == "false"
    assert "Groups" not in rows


# --- the command, before any browser opens -----------------------------------------------


def test_stack_without_a_loopback_client_is_told_how_to_add_one(tmp_path: Path) -> None:
    environment = write_environment(tmp_path)
    outputs = json.loads(environment.outputs.read_text())
    outputs["MobileSso-Example"]["ClientCliCallbackUrls"] = "com.example.mobilesso://callback"
    environment.outputs.write_text(json.dumps(outputs))
    result = CliRunner().invoke(app, environment.args)
    assert result.exit_code == 1
    assert "no app client of the stack has a loopback callback URL" in result.stderr
    assert 'callback_urls: ["http://localhost:8400/callback"]' in result.stderr


def test_identity_provider_the_client_does_not_offer_is_bad_usage(tmp_path: Path) -> None:
    environment = write_environment(tmp_path)
    result = CliRunner().invoke(app, [*environment.args, "--idp", "Okta"])
    assert result.exit_code == 2
    assert "does not offer 'Okta'" in result.stderr


def test_no_browser_prints_the_url_and_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)
    opened: list[str] = []

    def open_browser(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(try_signin_cli, "open_browser", open_browser)
    monkeypatch.delenv(HOSTED_UI_ENDPOINT_VARIABLE, raising=False)
    result = CliRunner().invoke(app, [*environment.args, "--no-browser", "--timeout", "1"])
    assert opened == []
    assert "Open this URL in a browser on this machine" in result.stderr
    assert (
        "https://mobile-sso-example-7f3a.auth.eu-west-1.amazoncognito.com/oauth2/authorize?"
        in result.stderr
    )
    assert result.exit_code == 1
    assert "within 1 seconds" in result.stdout


# --- what came from the network, on the terminal -----------------------------------------

# Clears the screen, sets the window title, forges green text, reverses the rest.
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x1b[32mSigned in\x1b[0m \u202eexe.gpj"
HOSTILE_SHOWN = "\\x1b[2J\\x1b]0;owned\\x07\\x1b[32mSigned in\\x1b[0m \\u202eexe.gpj"


def comes_back_with(**answer: str) -> Opener:
    """A browser that returns at once to the callback URL with `answer` and the state."""

    def open_url(url: str) -> bool:
        query = dict(parse_qsl(urlsplit(url).query))
        httpx.get(query["redirect_uri"], params={**answer, "state": query["state"]})
        return True

    return open_url


def test_error_description_is_printed_with_its_control_characters_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)
    opener = comes_back_with(error="access_denied", error_description=HOSTILE)
    monkeypatch.setattr(try_signin_cli, "open_browser", opener)
    result = CliRunner().invoke(app, [*environment.args, "--timeout", "5"])
    assert result.exit_code == 1
    assert f"access_denied: {HOSTILE_SHOWN}" in result.stdout
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output


def test_json_failure_carries_the_error_description_exactly_and_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)
    opener = comes_back_with(error="access_denied", error_description=HOSTILE)
    monkeypatch.setattr(try_signin_cli, "open_browser", opener)
    result = CliRunner().invoke(app, [*environment.args, "--timeout", "5", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error_description"] == HOSTILE
    assert "\x1b" not in result.stdout


def test_claims_are_printed_with_their_control_characters_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)
    identities = [{"providerName": HOSTILE, "providerType": "SAML", "userId": "u-1"}]
    claims = id_claims(name=HOSTILE, groups=[HOSTILE], identities=identities)

    def signed_in(target: SignInTarget, **_: Any) -> SignInResult:
        tokens = TokenSet(f"id{HOSTILE}", "a", None, None)
        return SignInResult(target, claims, {"scope": "openid"}, tokens, (f"issuer {HOSTILE}",))

    monkeypatch.setattr(try_signin_cli, "sign_in", signed_in)
    result = CliRunner().invoke(app, [*environment.args, "--show-tokens"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output
    assert f"issuer {HOSTILE_SHOWN}" in result.stdout
    assert f"id{HOSTILE_SHOWN}" in result.stdout


def test_requests_without_the_state_are_counted_in_the_timeout_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)

    def forged_only(url: str) -> bool:
        callback = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
        httpx.get(callback, params={"error": "access_denied", "error_description": HOSTILE})
        return True

    monkeypatch.setattr(try_signin_cli, "open_browser", forged_only)
    result = CliRunner().invoke(app, [*environment.args, "--timeout", "1", "--json"])
    assert result.exit_code == 1
    failure = json.loads(result.stdout)
    assert failure["stage"] == "browser"
    assert (
        "It ignored 1 request without this sign-in's state (an old browser tab, or another "
        "program or web page on this machine)."
    ) in failure["message"]
    assert failure["error"] == ""
    assert failure["error_description"] == ""


def test_ignored_error_is_named_on_timeout_with_its_control_characters_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = write_environment(tmp_path)

    def stateless_error(url: str) -> bool:
        callback = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
        httpx.get(callback, params={"error": "server_error", "error_description": HOSTILE})
        return True

    monkeypatch.setattr(try_signin_cli, "open_browser", stateless_error)
    result = CliRunner().invoke(app, [*environment.args, "--timeout", "1"])
    assert result.exit_code == 1
    assert f"The last error among them, server_error: {HOSTILE_SHOWN}, is not trusted" in (
        result.stdout
    )
    assert "\x1b" not in result.output
