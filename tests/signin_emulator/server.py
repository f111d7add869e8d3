"""The emulated hosted UI + token endpoint + JWKS, and the emulated Entra SAML IdP.

Strict where Cognito is strict: the client id must be known, `redirect_uri` must be one of
the client's callback URLs character for character, `response_type` must be `code` and PKCE
must use S256; `/oauth2/token` redeems a code once, for the same client and redirect_uri,
and only with the verifier whose S256 challenge started the sign-in. The SAML response is
checked with the project's own validator (what Cognito checks), plus what only Cognito can
know: that it answers the request Cognito sent and comes back with Cognito's RelayState.

Tokens are signed here with `cryptography` directly (not PyJWT, which the command verifies
with), so a bug shared by signer and verifier cannot make a bad token look good.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from mobile_sso.saml_check import Expectations, check_response
from tests import saml_factory

ENTRA_GROUPS_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
DISPLAY_NAME_CLAIM = "http://schemas.microsoft.com/identity/claims/displayname"
SESSION_COOKIE = "cognito-emulator-session"
RELAY_STATE_ERROR = "Invalid samlResponse or relayState from identity provider"
KEY_ID = "emulator-key-1"

# status, headers, body
Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class User:
    """The Entra user who signs in."""

    object_id: str = "5b2b8e3c-6f6e-4a7f-9d8b-0d2c0d8f1a11"
    email: str = "alice@contoso.com"
    display_name: str = "Alice Example"
    groups: tuple[str, ...] = ("admins", "mobile-users")


@dataclass(frozen=True)
class Behaviour:
    """One way the sign-in goes wrong; the defaults make it succeed."""

    # The state sent to the callback instead of the request's (a forged or stale answer).
    callback_state: str | None = None
    # The challenge the token endpoint holds for the code, instead of the one sent.
    code_challenge: str | None = None
    # The RelayState Entra posts back instead of the one Cognito sent.
    relay_state: str | None = None
    # Sign the tokens with a key the JWKS does not list.
    unknown_signing_key: bool = False
    # How long the issued tokens are valid from now (negative: already expired).
    token_lifetime: dt.timedelta = dt.timedelta(hours=1)
    # The Entra page waits for a user who never signs in.
    idp_waits: bool = False
    # Error redirects without the state, the format Cognito's documentation shows
    # (federation-endpoint-idp-responses.html); RFC 6749 section 4.1.2.1 would return it.
    errors_without_state: bool = False


@dataclass
class _Session:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    code_challenge: str
    scopes: tuple[str, ...]
    saml_request_id: str


@dataclass
class _Grant:
    session: _Session
    name_id: str
    attributes: Mapping[str, Sequence[str]]
    redeemed: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def encode(value: int) -> str:
        return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "alg": "RS256",
        "e": encode(numbers.e),
        "kid": kid,
        "kty": "RSA",
        "n": encode(numbers.n),
        "use": "sig",
    }


def sign_jwt(claims: Mapping[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    """A compact JWS, RS256 (RSASSA-PKCS1-v1_5 with SHA-256), the way Cognito signs."""
    header = _b64url(json.dumps({"kid": kid, "alg": "RS256"}).encode())
    payload = _b64url(json.dumps(dict(claims)).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64url(signature)}"


def _page(title: str, body: str, *, onload: str = "") -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body{onload}>{body}</body></html>"
    ).encode()


class SignInEmulator:
    """Hosted UI, token endpoint and JWKS of one user pool, and the Entra tenant behind it."""

    def __init__(
        self,
        *,
        user_pool_id: str,
        domain: str,
        idp_name: str,
        clients: Mapping[str, Sequence[str]],
        user: User | None = None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.user_pool_id = user_pool_id
        self.domain = domain
        self.idp_name = idp_name
        self.clients = {client_id: tuple(urls) for client_id, urls in clients.items()}
        self.user = user or User()
        self.behaviour = behaviour or Behaviour()
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.saml_signer = saml_factory.make_signer(saml_factory.make_key())
        self.metadata = saml_factory.metadata_xml([self.saml_signer.cert])
        self.sessions: dict[str, _Session] = {}
        self.grants: dict[str, _Grant] = {}
        self.token_requests: list[Mapping[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.user_pool_id}"

    def __enter__(self) -> SignInEmulator:
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

    # --- HTTP plumbing --------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                emulator._dispatch(self, "GET")

            def do_POST(self) -> None:
                emulator._dispatch(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return Handler

    def _dispatch(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(request.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(request.rfile.read(length).decode(), keep_blank_values=True))
        cookies = SimpleCookie(request.headers.get("Cookie") or "")
        session_id = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else None
        routes: dict[tuple[str, str], Callable[[], Answer]] = {
            ("GET", "/oauth2/authorize"): lambda: self._authorize(query),
            ("GET", "/entra/saml2"): lambda: self._entra(query),
            ("POST", "/saml2/idpresponse"): lambda: self._idp_response(form, session_id),
            ("POST", "/oauth2/token"): lambda: self._token(form),
            ("GET", f"/{self.user_pool_id}/.well-known/jwks.json"): self._jwks,
            ("GET", "/error"): lambda: self._error_page(query),
        }
        route = routes.get((method, parts.path))
        status, headers, body = route() if route else (404, {}, _page("Not found", ""))
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _redirect(location: str, **headers: str) -> Answer:
        return 302, {"Location": location, **headers}, b""

    @staticmethod
    def _json(status: int, payload: Any) -> Answer:
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    # --- the hosted UI --------------------------------------------------------------------

    def _authorize(self, query: Mapping[str, str]) -> Answer:  # noqa: PLR0911 (one per rule)
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        if client_id not in self.clients:
            return self._redirect("/error?" + urlencode({"error": "invalid_request"}))
        if redirect_uri not in self.clients[client_id]:
            # Cognito stops on its own error page: it never redirects to an unlisted URL.
            return self._redirect("/error?" + urlencode({"error": "redirect_mismatch"}))

        def refuse(error: str, description: str) -> Answer:
            answer = {"error": error, "error_description": description}
            if "state" in query:
                answer["state"] = query["state"]
            return self._redirect(f"{redirect_uri}?{urlencode(answer)}")

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or len(challenge) != 43:
            return refuse("invalid_request", "code_challenge_method must be S256")
        if query.get("identity_provider") != self.idp_name:
            return refuse("invalid_request", "identity_provider is not one of the client's")
        scopes = tuple(query.get("scope", "").split())
        if "openid" not in scopes:
            return refuse("invalid_scope", "openid is required")
        session_id = secrets.token_urlsafe(16)
        saml_request_id = f"_{uuid.uuid4()}"
        with self._lock:
            self.sessions[session_id] = _Session(
                client_id=client_id,
                redirect_uri=redirect_uri,
                state=query.get("state", ""),
                nonce=query.get("nonce"),
                code_challenge=self.behaviour.code_challenge or challenge,
                scopes=scopes,
                saml_request_id=saml_request_id,
            )
        authn_request = (
            f'<samlp:AuthnRequest xmlns:samlp="{saml_factory.SAMLP}" ID="{saml_request_id}" '
            f'Version="2.0" AssertionConsumerServiceURL="https://{self.domain}/saml2/idpresponse">'
            f'<saml:Issuer xmlns:saml="{saml_factory.SAML}">'
            f"urn:amazon:cognito:sp:{self.user_pool_id}</saml:Issuer></samlp:AuthnRequest>"
        )
        deflate = zlib.compressobj(wbits=-15)
        encoded = deflate.compress(authn_request.encode()) + deflate.flush()
        location = "/entra/saml2?" + urlencode(
            {"SAMLRequest": base64.b64encode(encoded).decode(), "RelayState": session_id}
        )
        cookie = f"{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"
        return self._redirect(location, **{"Set-Cookie": cookie})

    def _error_page(self, query: Mapping[str, str]) -> Answer:
        return 400, {"Content-Type": "text/html"}, _page("Error", html.escape(str(query)))

    # --- the Entra IdP --------------------------------------------------------------------

    def _entra(self, query: Mapping[str, str]) -> Answer:
        raw = zlib.decompress(base64.b64decode(query["SAMLRequest"]), wbits=-15)
        request_id = etree.fromstring(raw).get("ID")
        if self.behaviour.idp_waits:
            body = "<h1>Sign in</h1><form><input name='login' placeholder='Email'></form>"
            return 200, {"Content-Type": "text/html"}, _page("Sign in to your account", body)
        user = self.user
        spec = saml_factory.ResponseSpec(
            in_response_to=request_id,
            issued=dt.datetime.now(dt.UTC),
            audience=f"urn:amazon:cognito:sp:{self.user_pool_id}",
            recipient=f"https://{self.domain}/saml2/idpresponse",
            destination=f"https://{self.domain}/saml2/idpresponse",
            name_id=user.object_id,
            attributes={
                saml_factory.EMAIL_CLAIM: [user.email],
                DISPLAY_NAME_CLAIM: [user.display_name],
                ENTRA_GROUPS_CLAIM: list(user.groups),
            },
        )
        response = saml_factory.to_base64(saml_factory.build_response(spec, self.saml_signer))
        relay_state = self.behaviour.relay_state or query.get("RelayState", "")
        # The HTTP-POST binding: a form the page submits by itself.
        body = (
            f"<form method='post' action='{self.url}/saml2/idpresponse'>"
            f"<input type='hidden' name='SAMLResponse' value='{response}'>"
            f"<input type='hidden' name='RelayState' value='{html.escape(relay_state)}'>"
            "<noscript><button>Continue</button></noscript></form>"
        )
        return (
            200,
            {"Content-Type": "text/html"},
            _page("Working...", body, onload=" onload='document.forms[0].submit()'"),
        )

    # --- /saml2/idpresponse ---------------------------------------------------------------

    def _idp_response(self, form: Mapping[str, str], session_id: str | None) -> Answer:
        session = self.sessions.get(session_id or "")
        if session is None:
            return 400, {"Content-Type": "text/html"}, _page("Error", "No sign-in in progress")

        def back(**answer: str) -> Answer:
            state = self.behaviour.callback_state or session.state
            if not ("error" in answer and self.behaviour.errors_without_state):
                answer["state"] = state
            return self._redirect(f"{session.redirect_uri}?{urlencode(answer)}")

        if form.get("RelayState") != session_id:
            return back(error_description=RELAY_STATE_ERROR, error="invalid_request")
        expect = Expectations(
            user_pool_id=self.user_pool_id, domain=self.domain, now=dt.datetime.now(dt.UTC)
        )
        report = check_response(form.get("SAMLResponse", "").encode(), self.metadata, expect)
        if not report.accepted:
            refused = next(f for f in report.findings if f.severity == "error")
            return back(
                error_description=f"Invalid SAML response received: {refused.message}",
                error="invalid_request",
            )
        root = etree.fromstring(base64.b64decode(form["SAMLResponse"]))
        assertion = root.find(f"{{{saml_factory.SAML}}}Assertion")
        assert assertion is not None
        confirmation = assertion.find(f".//{{{saml_factory.SAML}}}SubjectConfirmationData")
        if confirmation is None or confirmation.get("InResponseTo") != session.saml_request_id:
            return back(error_description=RELAY_STATE_ERROR, error="invalid_request")
        name_id = assertion.findtext(f".//{{{saml_factory.SAML}}}NameID") or ""
        attributes = {
            str(a.get("Name")): [v.text or "" for v in a]
            for a in assertion.iter(f"{{{saml_factory.SAML}}}Attribute")
        }
        code = str(uuid.uuid4())
        with self._lock:
            self.grants[code] = _Grant(session, name_id, attributes)
        return back(code=code)

    # --- /oauth2/token and the JWKS -------------------------------------------------------

    def _token(self, form: Mapping[str, str]) -> Answer:
        self.token_requests.append(dict(form))
        if form.get("grant_type") != "authorization_code":
            return self._json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = self.grants.get(form.get("code", ""))
            if grant is None or grant.redeemed:
                return self._json(400, {"error": "invalid_grant"})
            grant.redeemed = True
        session = grant.session
        if form.get("client_id") != session.client_id:
            return self._json(400, {"error": "invalid_client"})
        if form.get("redirect_uri") != session.redirect_uri:
            return self._json(400, {"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        if challenge != session.code_challenge:
            return self._json(400, {"error": "invalid_grant"})
        id_token, access_token = self._tokens(grant)
        return self._json(
            200,
            {
                "id_token": id_token,
                "access_token": access_token,
                "refresh_token": secrets.token_urlsafe(48),
                "expires_in": 3600,
                "token_type": "Bearer",
            },
        )

    def _tokens(self, grant: _Grant) -> tuple[str, str]:
        now = int(time.time())
        expires = now + int(self.behaviour.token_lifetime.total_seconds())
        issued = min(now, expires - 60)
        session = grant.session
        username = f"{self.idp_name}_{grant.name_id}"
        subject = str(uuid.uuid5(uuid.NAMESPACE_URL, username))
        common = {"sub": subject, "iss": self.issuer, "iat": issued, "exp": expires}
        groups = list(grant.attributes.get(ENTRA_GROUPS_CLAIM, []))
        id_claims: dict[str, Any] = {
            **common,
            "aud": session.client_id,
            "token_use": "id",
            "auth_time": issued,
            "cognito:username": username,
            "cognito:groups": [f"{self.user_pool_id}_{self.idp_name}"],
            "email": grant.attributes[saml_factory.EMAIL_CLAIM][0],
            "email_verified": False,
            "name": grant.attributes.get(DISPLAY_NAME_CLAIM, [""])[0],
            "identities": [
                {
                    "dateCreated": str(issued * 1000),
                    "userId": grant.name_id,
                    "providerName": self.idp_name,
                    "providerType": "SAML",
                    "issuer": None,
                    "primary": "true",
                }
            ],
            "jti": str(uuid.uuid4()),
        }
        if groups:
            id_claims["groups"] = groups
        if session.nonce is not None:
            id_claims["nonce"] = session.nonce
        access_claims = {
            **common,
            "token_use": "access",
            "client_id": session.client_id,
            "scope": " ".join(session.scopes),
            "username": username,
            "jti": str(uuid.uuid4()),
        }
        if self.behaviour.unknown_signing_key:
            key, kid = self.other_key, "not-a-pool-key"
        else:
            key, kid = self.signing_key, KEY_ID
        return sign_jwt(id_claims, key, kid), sign_jwt(access_claims, key, kid)

    def _jwks(self) -> Answer:
        return self._json(200, {"keys": [jwk_of(self.signing_key, KEY_ID)]})
