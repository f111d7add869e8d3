"""A real sign-in the way the mobile app does it: the logic behind `mobile-sso try-signin`.

Authorization code grant with PKCE (RFC 7636) through the hosted UI, straight to one SAML
identity provider, with the answer received on a loopback redirect (RFC 8252 section 7.3).
Then the code is exchanged at `/oauth2/token` and the ID token is verified the way an app
must: signature against the pool's JWKS, issuer, audience, expiry, `token_use` and the
nonce this sign-in sent.

Cognito compares `redirect_uri` with the client's callback URLs as exact strings and does
not apply RFC 8252's "any port" rule to loopback URLs, so the port is the one of the
client's registered loopback callback URL, never a random one.

Nothing here prints: the command (`try_signin_cli`) decides what people see. Tokens stay
in memory; only their claims leave this module unless the caller asks for the tokens.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import http.server
import json
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import jwt

from mobile_sso import doctor_checks
from mobile_sso.config import is_loopback_url

# Environment variables that point the command at an emulator instead of AWS. They accept
# loopback hosts only, so they cannot send a sign-in anywhere but this machine.
HOSTED_UI_ENDPOINT_VARIABLE = "MOBILE_SSO_HOSTED_UI_ENDPOINT"
COGNITO_IDP_ENDPOINT_VARIABLE = "MOBILE_SSO_COGNITO_IDP_ENDPOINT"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

# Clock difference tolerated between this machine and Cognito when judging exp and iat.
CLOCK_LEEWAY_SECONDS = 60
SIGNING_ALGORITHM = "RS256"  # the only algorithm Cognito signs user pool tokens with
# The most read of a token or JWKS answer. Far above any real one: a pool's JWKS holds two
# keys (about 1 KB), a token answer three tokens (a few KB; the ID token grows with groups).
MAX_ANSWER_BYTES = 1_000_000

Stage = Literal["setup", "browser", "callback", "token", "verify"]
Opener = Callable[[str], bool]


class SignInSetupError(Exception):
    """The sign-in cannot start (bad input, a port in use); the message says what to fix."""


@dataclass(frozen=True)
class Advice:
    """What a failure means and what to do, in the words of `mobile-sso doctor`."""

    category: str  # the doctor category that checks the cause
    means: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {"category": self.category, "means": self.means, "fix": self.fix}


class SignInFailed(Exception):
    """The sign-in ran but did not end with a verified ID token."""

    def __init__(
        self,
        stage: Stage,
        message: str,
        *,
        error: str = "",
        error_description: str = "",
        advice: Sequence[Advice] = (),
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.error = error
        self.error_description = error_description
        self.advice = tuple(advice)

    def as_dict(self) -> dict[str, Any]:
        return {
            "signed_in": False,
            "stage": self.stage,
            "message": self.message,
            "error": self.error,
            "error_description": self.error_description,
            "advice": [a.as_dict() for a in self.advice],
        }


# --- endpoints -----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where the hosted UI, the token endpoint and the pool's signing keys live."""

    authorize: str
    token: str
    issuer: str
    jwks: str

    @classmethod
    def for_pool(
        cls,
        *,
        domain: str,
        region: str,
        user_pool_id: str,
        env: Mapping[str, str] | None = None,
    ) -> Endpoints:
        """Cognito's endpoints for a pool, or an emulator's when the environment names one.

        Hosted UI: `https://<domain>`; issuer `https://cognito-idp.<region>.amazonaws.com/
        <poolId>`, whose JWKS is `<issuer>/.well-known/jwks.json`.
        """
        env = env if env is not None else {}
        hosted = _override(env, HOSTED_UI_ENDPOINT_VARIABLE) or f"https://{domain}"
        idp = (
            _override(env, COGNITO_IDP_ENDPOINT_VARIABLE)
            or f"https://cognito-idp.{region}.amazonaws.com"
        )
        issuer = f"{idp}/{user_pool_id}"
        return cls(
            authorize=f"{hosted}/oauth2/authorize",
            token=f"{hosted}/oauth2/token",
            issuer=issuer,
            jwks=f"{issuer}/.well-known/jwks.json",
        )


def _override(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or (parts.hostname or "") not in _LOOPBACK_NAMES
        or parts.path
        or parts.query
    ):
        raise SignInSetupError(
            f"environment {name}={value!r}: an endpoint override must be the root URL of a "
            "server on this machine (http://127.0.0.1:PORT or http://localhost:PORT); "
            f"unset {name} to sign in against AWS"
        )
    return value


# --- PKCE, state and nonce -------------------------------------------------------------


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_code_verifier() -> str:
    """A PKCE code verifier: 86 characters from 64 random bytes (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA256(ASCII(verifier)))."""
    return _base64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class SignInTarget:
    """What one sign-in goes to: a pool's endpoints, an app client and an identity provider."""

    endpoints: Endpoints
    client_name: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    identity_provider: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """One sign-in's secrets: the PKCE verifier, and the state and nonce it must get back."""

    target: SignInTarget
    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls, target: SignInTarget) -> AuthorizationRequest:
        return cls(
            target=target,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=new_code_verifier(),
        )

    @property
    def url(self) -> str:
        """The hosted-UI URL that starts the sign-in, straight to the identity provider."""
        target = self.target
        query = urlencode(
            {
                "response_type": "code",
                "client_id": target.client_id,
                "redirect_uri": target.redirect_uri,
                "identity_provider": target.identity_provider,
                "scope": " ".join(target.scopes),
                "state": self.state,
                "nonce": self.nonce,
                "code_challenge": code_challenge(self.code_verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        return f"{target.endpoints.authorize}?{query}"


# --- the loopback redirect -------------------------------------------------------------


@dataclass(frozen=True)
class LoopbackAddress:
    host: str
    port: int
    path: str


def loopback_address(redirect_uri: str) -> LoopbackAddress:
    """Where to listen for `redirect_uri`: its host and its port (80 when it has none)."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or not is_loopback_url(redirect_uri):
        raise SignInSetupError(
            f"{redirect_uri!r} is not a loopback callback URL: try-signin receives the answer "
            "on http://localhost:PORT/PATH or http://127.0.0.1:PORT/PATH"
        )
    host = parts.hostname or ""
    # Browsers reach "localhost" on 127.0.0.1 when nothing answers on ::1.
    address = "::1" if host == "::1" else "127.0.0.1"
    return LoopbackAddress(address, parts.port or 80, parts.path or "/")


@dataclass(frozen=True)
class Callback:
    """The query of the request the browser made to the loopback callback URL."""

    params: Mapping[str, str]


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mobile-sso try-signin</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


# How long an open connection may stay silent before the receiver drops it; the receiver
# answers each connection in its own thread, so a silent one cannot hold up the browser's.
IDLE_CONNECTION_SECONDS = 10


class LoopbackReceiver:
    """An HTTP server on the loopback callback URL that waits for this sign-in's answer.

    Any program or web page on this machine can request the callback URL, but none can know
    the sign-in's `state`. Only a GET of the callback path carrying this sign-in's state (and
    no parameter twice, RFC 6749 section 3.1) ends the wait, whether it brings a code or an
    error. Anything else gets an error page, is counted in `refused`, and the receiver keeps
    waiting. RFC 6749 section 4.1.2.1 returns the state on error redirects too, but Cognito's
    documentation shows its error redirects without one: such an error cannot be told from a
    forged one, so it is kept as `ignored_error`, to be shown, never acted on.
    """

    def __init__(self, redirect_uri: str, *, state: str) -> None:
        self.address = loopback_address(redirect_uri)
        self.refused = 0
        self.ignored_error: Callback | None = None
        self._state = state.encode()
        self._lock = threading.Lock()
        self._received: Callback | None = None
        self._arrived = threading.Event()
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="try-signin-callback", daemon=True
        )

    def _bind(self) -> http.server.HTTPServer:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = IDLE_CONNECTION_SECONDS

            def do_GET(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the request line carries the authorization code."""

        server_class: type[http.server.HTTPServer] = (
            _IPv6Server if self.address.host == "::1" else _Server
        )
        try:
            return server_class((self.address.host, self.address.port), Handler)
        except OSError as error:
            raise SignInSetupError(
                f"cannot listen on {self.address.host} port {self.address.port} for the "
                f"callback URL: {error.strerror}. Stop the program using that port and try "
                "again (Cognito matches the callback URL exactly, so the port cannot change "
                "unless the client's callback URL changes)"
            ) from error

    def _is_this_sign_ins(self, pairs: Sequence[tuple[str, str]]) -> bool:
        names = [name for name, _ in pairs]
        state = dict(pairs).get("state", "")
        return len(names) == len(set(names)) and hmac.compare_digest(state.encode(), self._state)

    def _handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path != self.address.path:
            request.send_error(404)
            return
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        if not self._is_this_sign_ins(pairs):
            with self._lock:
                self.refused += 1
                if "error" in params:
                    self.ignored_error = Callback(params)
            text = (
                "This request does not carry the state of the sign-in the terminal is waiting "
                "for, so it was ignored. The terminal keeps waiting for its own answer."
            )
            if "error" in params:
                said = params.get("error_description") or ""
                text += f" The error it carried: {params['error']}{': ' if said else ''}{said}"
            _reply(request, 400, "Not this sign-in's answer", text)
            return
        with self._lock:
            first = self._received is None
            if first:
                self._received = Callback(params)
        if not first:
            title, text = "Already answered", "This sign-in has already received its answer."
        elif "error" in params:
            title, text = "Sign-in failed", params.get("error_description") or params["error"]
        else:
            title, text = "Answer received", "Return to the terminal; you can close this tab."
        self._arrived.set()
        _reply(request, 200, title, text)

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def wait(self, timeout: float) -> Callback | None:
        """This sign-in's answer, or None when none came within `timeout` seconds."""
        if not self._arrived.wait(timeout):
            return None
        return self._received


def _reply(request: http.server.BaseHTTPRequestHandler, status: int, title: str, text: str) -> None:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
    request.send_response(status)
    request.send_header("Content-Type", "text/html; charset=utf-8")
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Cache-Control", "no-store")
    request.end_headers()
    request.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a connection the browser or another program broke off is not news, and
        the default prints a traceback onto the terminal the sign-in is reported on."""


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int | None

    def __repr__(self) -> str:
        return "TokenSet(<redacted>)"


def exchange_code(
    request: AuthorizationRequest, code: str, http_client: httpx.Client, env: str = "<env>"
) -> TokenSet:
    """Redeem the code at /oauth2/token with the PKCE verifier (a public client: no secret)."""
    target = request.target
    url = target.endpoints.token
    try:
        status, body = _json_answer(
            http_client,
            "POST",
            url,
            data={
                "grant_type": "authorization_code",
                "client_id": target.client_id,
                "code": code,
                "redirect_uri": target.redirect_uri,
                "code_verifier": request.code_verifier,
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as failure:
        raise SignInFailed(
            "token", f"the token endpoint {url} did not answer: {failure}"
        ) from failure
    except _TooLarge as failure:
        raise SignInFailed(
            "token", f"the token endpoint {url} {failure}, far more than tokens take: refused"
        ) from None
    if status != 200:
        error = str(body.get("error", ""))
        description = str(body.get("error_description", ""))
        raise SignInFailed(
            "token",
            f"the token endpoint refused the code (HTTP {status} "
            f"{error or 'without an error code'}): {_token_error_meaning(error)}",
            error=error,
            error_description=description,
            advice=advice_for(error, description, env),
        )
    id_token = body.get("id_token")
    access_token = body.get("access_token")
    if not isinstance(id_token, str) or not isinstance(access_token, str):
        raise SignInFailed(
            "token",
            "the token endpoint answered without an ID token: the client's scopes must "
            "include openid",
        )
    refresh = body.get("refresh_token")
    expires = body.get("expires_in")
    return TokenSet(
        id_token=id_token,
        access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_in=expires if isinstance(expires, int) else None,
    )


class _TooLarge(Exception):
    pass


def _json_answer(
    http_client: httpx.Client, method: str, url: str, **request: Any
) -> tuple[int, dict[str, Any]]:
    """The status and JSON object of an answer read with a size limit: the body is streamed
    and dropped once it passes MAX_ANSWER_BYTES, so a hostile server cannot fill memory."""
    with http_client.stream(method, url, **request) as response:
        received = bytearray()
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) > MAX_ANSWER_BYTES:
                raise _TooLarge(f"answered more than {MAX_ANSWER_BYTES} bytes")
        status = response.status_code
    try:
        body = json.loads(received)
    except ValueError:
        return status, {}
    return status, body if isinstance(body, dict) else {}


def _token_error_meaning(error: str) -> str:
    if error == "invalid_grant":
        return (
            "the code_verifier does not match the code_challenge the sign-in started with "
            "(PKCE), or the code was already used, expired (codes live 5 minutes), or was "
            "issued for another redirect_uri"
        )
    if error == "invalid_client":
        return "the client id is unknown, or the client has a secret (a public client has none)"
    if error == "unauthorized_client":
        return "the client does not allow the authorization code grant"
    return "see error_description"


# --- verifying the tokens ----------------------------------------------------------------


def fetch_jwks(endpoints: Endpoints, http_client: httpx.Client) -> dict[str, Any]:
    """The pool's public signing keys."""
    try:
        status, body = _json_answer(http_client, "GET", endpoints.jwks)
    except httpx.HTTPError as error:
        raise SignInFailed(
            "verify", f"cannot read the pool's signing keys at {endpoints.jwks}: {error}"
        ) from error
    except _TooLarge as error:
        raise SignInFailed(
            "verify",
            f"the pool's signing keys at {endpoints.jwks} {error}, far more than a JWKS "
            "takes: refused",
        ) from None
    if status != 200 or not isinstance(body.get("keys"), list):
        raise SignInFailed(
            "verify",
            f"the pool's signing keys at {endpoints.jwks} answered HTTP {status} "
            "without a JWKS (is the user pool id right?)",
        )
    return body


def _signing_key(token: str, jwks: Mapping[str, Any], what: str) -> Any:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as error:
        raise SignInFailed("verify", f"the {what} is not a JWT: {error}") from error
    algorithm = header.get("alg")
    if algorithm != SIGNING_ALGORITHM:
        raise SignInFailed(
            "verify",
            f"the {what} is signed with {algorithm!r}; Cognito signs with {SIGNING_ALGORITHM}",
        )
    kid = header.get("kid")
    for key in jwks.get("keys", []):
        if isinstance(key, Mapping) and key.get("kid") == kid:
            try:
                return jwt.PyJWK.from_dict(dict(key), algorithm=SIGNING_ALGORITHM).key
            except jwt.PyJWKError as error:
                raise SignInFailed(
                    "verify", f"the pool's JWKS holds an unusable key {kid!r}: {error}"
                ) from error
    known = ", ".join(str(k.get("kid")) for k in jwks.get("keys", []) if isinstance(k, Mapping))
    raise SignInFailed(
        "verify",
        f"the {what} is signed by the key {kid!r}, which is not one of the user pool's "
        f"signing keys ({known or 'none'}): it was not issued by this user pool",
    )


def _decode(
    token: str,
    jwks: Mapping[str, Any],
    *,
    what: str,
    issuer: str,
    audience: str | None,
) -> dict[str, Any]:
    key = _signing_key(token, jwks, what)
    required = ["exp", "iat", "iss", "sub", "token_use"] + (["aud"] if audience else [])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[SIGNING_ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": required, "verify_aud": audience is not None},
        )
    except jwt.ExpiredSignatureError as error:
        expired = _unverified_claim(token, "exp")
        raise SignInFailed(
            "verify",
            f"the {what} expired at {_instant(expired)} (this machine's clock says "
            f"{_instant(dt.datetime.now(dt.UTC).timestamp())}): check the clock, then sign in "
            "again",
        ) from error
    except jwt.ImmatureSignatureError as error:
        raise SignInFailed(
            "verify", f"the {what} is not valid yet: is this machine's clock behind?"
        ) from error
    except jwt.InvalidSignatureError as error:
        raise SignInFailed(
            "verify",
            f"the {what}'s signature does not verify with the user pool's key of the same id: "
            "the token was altered or forged",
        ) from error
    except jwt.InvalidIssuerError as error:
        raise SignInFailed(
            "verify",
            f"the {what} was issued by {_unverified_claim(token, 'iss')!r}, not by this user "
            f"pool ({issuer})",
        ) from error
    except jwt.InvalidAudienceError as error:
        raise SignInFailed(
            "verify",
            f"the {what} is for the audience {_unverified_claim(token, 'aud')!r}, not for "
            f"the app client {audience}",
        ) from error
    except jwt.MissingRequiredClaimError as error:
        raise SignInFailed("verify", f"the {what} lacks the claim {error.claim!r}") from error
    except jwt.InvalidTokenError as error:
        raise SignInFailed("verify", f"the {what} is invalid: {error}") from error
    return claims


def _unverified_claim(token: str, name: str) -> Any:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get(name)
    except jwt.InvalidTokenError:
        return None


def _instant(value: Any) -> str:
    if not isinstance(value, int | float):
        return repr(value)
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")


def verify_id_token(
    token: str, jwks: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims, once signature, issuer, audience, expiry, use and nonce hold."""
    claims = _decode(token, jwks, what="ID token", issuer=issuer, audience=client_id)
    if claims.get("token_use") != "id":
        raise SignInFailed(
            "verify",
            f"the ID token has token_use {claims.get('token_use')!r}, not 'id': an access "
            "token was passed off as an ID token",
        )
    received = claims.get("nonce")
    if not isinstance(received, str) or not hmac.compare_digest(received, nonce):
        raise SignInFailed(
            "verify",
            "the ID token's nonce is not the one this sign-in sent: the token was issued for "
            "another sign-in (replayed), so it is refused",
        )
    return claims


def verify_access_token(
    token: str, jwks: Mapping[str, Any], *, issuer: str, client_id: str
) -> dict[str, Any]:
    """The access token's claims (Cognito's access tokens name the client in client_id)."""
    claims = _decode(token, jwks, what="access token", issuer=issuer, audience=None)
    if claims.get("token_use") != "access" or claims.get("client_id") != client_id:
        raise SignInFailed(
            "verify",
            f"the access token is not an access token of the app client {client_id} "
            f"(token_use {claims.get('token_use')!r}, client_id {claims.get('client_id')!r})",
        )
    return claims


# --- what went wrong on the redirect ---------------------------------------------------


def advice_for(error: str, description: str, env: str = "<env>") -> tuple[Advice, ...]:
    """The doctor's reading of an error Cognito sent back, most specific first."""
    doctor = f"mobile-sso doctor --env {env}"
    check = (
        f"capture the SAML response (docs/troubleshooting.md: 'check a SAML response') and run "
        f"mobile-sso check-response FILE --env {env}"
    )
    text = f"{error} {description}"
    found: list[Advice] = []
    if "relayState" in text or "Invalid samlResponse" in text:
        found.append(
            Advice(
                "idp",
                doctor_checks.BAD_RELAY_STATE
                + ": Cognito could not tie Entra's answer to a sign-in it started",
                "Start the sign-in from the app (as this command does), not from Entra's My "
                "Apps, unless entra[].idp_initiated is on; finish it within minutes in the "
                f"same browser. {doctor} checks the provider's IdP-initiated setting; {check}",
            )
        )
    if "signature is invalid" in text.lower():
        found.append(
            Advice(
                "metadata",
                doctor_checks.BAD_SIGNATURE,
                "Entra signed with a certificate the provider's metadata lacks: make the new "
                f"certificate active, or wait for Cognito's metadata refresh (up to 6 hours). "
                f"{doctor} compares the metadata's certificate with Entra's active one",
            )
        )
    if "Invalid user attributes" in text or "attribute is required" in text:
        found.append(
            Advice(
                "claims",
                "Entra's response lacks a claim the pool requires (usually the email)",
                "Fill the user's mail in Entra, or use user.userprincipalname as the email "
                f"claim's source; {doctor} checks the mapping and assigned users' mail",
            )
        )
    for code, advice in _AADSTS.items():
        if code in text:
            found.append(advice)
    if error in _OAUTH_ERRORS:
        found.append(_OAUTH_ERRORS[error])
    if not found:
        found.append(
            Advice("outputs", "an error this command has no specific advice for", f"run {doctor}")
        )
    return tuple(found)


_AADSTS = {
    "AADSTS50105": Advice(
        "assignment",
        "Entra: the user is not assigned to the enterprise application",
        "Assign the user or one of their groups (entra[].assignments), or turn "
        "assignment_required off; mobile-sso doctor checks assignments",
    ),
    "AADSTS50011": Advice(
        "entra_app",
        "Entra: the reply URL Cognito sent is not the application's",
        "Set the application's Reply URL to the SamlReplyUrl output, or deploy",
    ),
    "AADSTS700016": Advice(
        "entra_app",
        "Entra: no application with Cognito's identifier in this tenant",
        "Set the application's Identifier to the SamlEntityId output, or deploy",
    ),
}

_OAUTH_ERRORS = {
    "redirect_mismatch": Advice(
        "client", doctor_checks.REDIRECT_MISMATCH, "Deploy the client's callback URLs"
    ),
    "unauthorized_client": Advice(
        "client", doctor_checks.UNAUTHORIZED_CLIENT, "Allow authorization_code and deploy"
    ),
    "invalid_scope": Advice(
        "client", doctor_checks.INVALID_SCOPE, "Deploy the client's scopes from the config"
    ),
    "access_denied": Advice(
        "assignment",
        "the user or Entra refused the sign-in",
        "Check the user is assigned to the enterprise application (mobile-sso doctor)",
    ),
    "invalid_grant": Advice(
        "client",
        "the code could not be redeemed",
        "Sign in again; if it repeats, something between the browser and this command "
        "altered the request (a proxy rewriting URLs)",
    ),
}


# --- the whole sign-in -------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    target: SignInTarget
    id_claims: Mapping[str, Any]
    access_claims: Mapping[str, Any]
    tokens: TokenSet
    verified: tuple[str, ...] = field(default=())


def read_callback(request: AuthorizationRequest, callback: Callback, env: str) -> str:
    """The authorization code, once the answer is known to belong to this sign-in."""
    params = callback.params
    # State first: an answer this sign-in did not ask for is refused before anything in it,
    # even an error message, is believed. The receiver already ignores such answers.
    if not hmac.compare_digest(params.get("state", "").encode(), request.state.encode()):
        raise SignInFailed(
            "callback",
            "the answer on the callback URL carries a state that is not this sign-in's: it "
            "was not started here (cross-site request forgery, or an old browser tab), so it "
            "is refused and its code is not used",
        )
    if "error" in params:
        error = params["error"]
        description = params.get("error_description", "")
        raise SignInFailed(
            "callback",
            f"Cognito sent the sign-in back with an error: {error}"
            + (f": {description}" if description else ""),
            error=error,
            error_description=description,
            advice=advice_for(error, description, env),
        )
    code = params.get("code", "")
    if not code:
        raise SignInFailed("callback", "the answer on the callback URL has neither code nor error")
    return code


def sign_in(
    target: SignInTarget,
    *,
    opener: Opener | None,
    timeout: float,
    http_client: httpx.Client,
    show_url: Callable[[str, bool], None],
    env: str = "<env>",
) -> SignInResult:
    """Sign in once, for real: browser, loopback answer, code exchange, verified tokens.

    `opener` opens the URL in a browser and says whether it could (None: do not try);
    `show_url(url, opened)` tells the person where to go.
    """
    request = AuthorizationRequest.new(target)
    with LoopbackReceiver(target.redirect_uri, state=request.state) as receiver:
        opened = opener(request.url) if opener is not None else False
        show_url(request.url, opened)
        callback = receiver.wait(timeout)
    if callback is None:
        refused, stateless = receiver.refused, receiver.ignored_error
        ignored = (
            f" It ignored {refused} request{'s' if refused != 1 else ''} without this "
            "sign-in's state (an old browser tab, or another program or web page on this "
            "machine)."
            if refused
            else ""
        )
        if stateless is not None:
            error = stateless.params["error"]
            description = stateless.params.get("error_description", "")
            ignored += (
                f" The last error among them, {error}"
                + (f": {description}" if description else "")
                + ", is not trusted, but Cognito sends some errors without the state: if the "
                "browser shows it at the end of your sign-in, it is this sign-in's."
            )
        raise SignInFailed(
            "browser",
            f"no answer on {target.redirect_uri} within {timeout:g} seconds: the browser was "
            "closed before the sign-in finished, or it stopped on an error page (Cognito "
            "shows redirect_mismatch or invalid_request there without coming back). Run "
            f"again and read the browser's page; --timeout gives more time.{ignored}",
            advice=(
                Advice(
                    "client",
                    "a sign-in that never returned to the callback URL",
                    f"mobile-sso doctor --env {env} checks the client's callback URLs and "
                    "identity providers",
                ),
            ),
        )
    code = read_callback(request, callback, env)
    tokens = exchange_code(request, code, http_client, env)
    jwks = fetch_jwks(target.endpoints, http_client)
    issuer = target.endpoints.issuer
    id_claims = verify_id_token(
        tokens.id_token, jwks, issuer=issuer, client_id=target.client_id, nonce=request.nonce
    )
    access_claims = verify_access_token(
        tokens.access_token, jwks, issuer=issuer, client_id=target.client_id
    )
    kid = jwt.get_unverified_header(tokens.id_token).get("kid")
    verified = (
        f"signature ({SIGNING_ALGORITHM}, pool key {kid})",
        f"issuer {issuer}",
        f"audience {target.client_id}",
        f"expiry {_instant(id_claims.get('exp'))}",
        "nonce",
        "token_use id",
    )
    return SignInResult(target, id_claims, access_claims, tokens, verified)


# --- what the app will see ---------------------------------------------------------------


def _identities(claims: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = claims.get("identities")
    if isinstance(value, str):  # some Cognito tokens carry it as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def _listed(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "" if value is None else str(value)


def app_view(result: SignInResult) -> list[tuple[str, str]]:
    """The claims a mobile app reads after sign-in, as (label, value) rows."""
    claims = result.id_claims
    identities = _identities(claims)
    first = identities[0] if identities else {}
    rows = [
        ("Email", _listed(claims.get("email"))),
        ("Email verified", _listed(claims.get("email_verified"))),
        ("Name", _listed(claims.get("name"))),
        ("Given name", _listed(claims.get("given_name"))),
        ("Family name", _listed(claims.get("family_name"))),
        ("Groups", _listed(claims.get("groups"))),
        ("Groups overage", _listed(claims.get("groups_overage"))),
        ("Cognito groups", _listed(claims.get("cognito:groups"))),
        ("Identity provider", _listed(first.get("providerName"))),
        ("Provider type", _listed(first.get("providerType"))),
        ("User id at the provider", _listed(first.get("userId"))),
        ("Cognito username", _listed(claims.get("cognito:username"))),
        ("Subject (sub)", _listed(claims.get("sub"))),
        ("Scopes (access token)", _listed(result.access_claims.get("scope"))),
        ("ID token expires", _instant(claims.get("exp"))),
    ]
    return [(label, value) for label, value in rows if value]


def result_as_dict(result: SignInResult, *, with_tokens: bool = False) -> dict[str, Any]:
    """The `--json` shape of a sign-in that succeeded."""
    identities = _identities(result.id_claims)
    document: dict[str, Any] = {
        "signed_in": True,
        "client": result.target.client_name,
        "identity_provider": result.target.identity_provider,
        "signed_in_through": identities[0].get("providerName") if identities else None,
        "verified": list(result.verified),
        "app_sees": dict(app_view(result)),
        "id_token_claims": dict(result.id_claims),
        "access_token_claims": dict(result.access_claims),
    }
    if with_tokens:
        document["tokens"] = {
            "id_token": result.tokens.id_token,
            "access_token": result.tokens.access_token,
            "refresh_token": result.tokens.refresh_token,
        }
    return document
