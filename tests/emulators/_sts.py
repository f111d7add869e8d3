"""AWS STS `GetWebIdentityToken` (IAM outbound identity federation) on 127.0.0.1.

Speaks the STS Query protocol as boto3 sends it (form-encoded POST, SigV4 Authorization
header, XML answers) and serves the account's OIDC issuer: `/.well-known/openid-configuration`
and the JWKS its RS256 tokens verify against. One account, one calling role.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ._http import HttpRequest, HttpResponse, LocalServer

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
CLAIMS_NAMESPACE = "https://sts.amazonaws.com/"
DEFAULT_SECONDS = 300
MIN_SECONDS, MAX_SECONDS = 60, 3600
# SigV4 as botocore writes it: scope <key id>/<date>/<region>/sts/aws4_request.
_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/sts/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$"
)


@dataclass(frozen=True)
class StsCall:
    """One request as the emulator saw it (the Authorization header is never kept)."""

    action: str
    params: dict[str, str]
    status: int
    region: str | None
    signed: bool


class StsError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "Sender") -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind


class StsEmulator:
    """STS for account `account_id` whose caller is the role `role_arn`.

    `url` is the endpoint (`boto3.client("sts", endpoint_url=...)`); `issuer` is the
    account's issuer URL (what `aws iam get-outbound-web-identity-federation-info` prints),
    served by the same server. Knobs: `enabled` (outbound federation on/off),
    `allowed_audiences` (what the caller's IAM policy allows; None: any),
    `sign_with_unknown_key()`, `skew_tokens(seconds)`.
    """

    def __init__(
        self,
        *,
        account_id: str = "123456789012",
        role_name: str = "sso-dev-entra-handler",
        region: str = "eu-west-1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.account_id = account_id
        self._tls = tls  # https, as AWS's issuer URLs are (Entra accepts only https issuers)
        self.role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
        self.region = region
        self.enabled = True
        self.allowed_audiences: frozenset[str] | None = None
        self._issuer_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = uuid.uuid4().hex
        self._rogue_key: rsa.RSAPrivateKey | None = None
        self._rogue_kid = self._kid
        self._skew = 0
        self._calls: list[StsCall] = []
        self._server: LocalServer | None = None
        self.url = ""
        self.issued: list[str] = []

    def lambda_environment(self) -> dict[str, str]:
        """The environment the handler function sees, pointed at this emulator: its
        region, its role's (fake) session credentials, and STS's endpoint."""
        return {
            "AWS_ENDPOINT_URL_STS": self.url,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "ASIAEMULATEDROLE0001",
            "AWS_SECRET_ACCESS_KEY": "emulated-secret-access-key",
            "AWS_SESSION_TOKEN": "emulated-session-token",
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> StsEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._server = LocalServer(self._handle, self._tls)
        self.url = self._server.url
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self._issuer_id}"

    # -- knobs -------------------------------------------------------------------------------

    def sign_with_unknown_key(self, *, same_kid: bool = False) -> None:
        """Tokens from now on are signed by a key the JWKS does not publish, under a key id
        of its own, or (`same_kid`) under the published key's id: a forged signature."""
        with self._lock:
            self._rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._rogue_kid = self._kid if same_kid else uuid.uuid4().hex

    def skew_tokens(self, seconds: int) -> None:
        """Date tokens `seconds` off the real clock (negative: already expired)."""
        with self._lock:
            self._skew = seconds

    def calls(self) -> list[StsCall]:
        with self._lock:
            return list(self._calls)

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(self, audiences: Sequence[str], seconds: int = DEFAULT_SECONDS) -> str:
        """A token as GetWebIdentityToken issues it to the role."""
        with self._lock:
            key = self._rogue_key or self._key
            kid = self._rogue_kid if self._rogue_key else self._kid
            now = int(time.time()) + self._skew
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audiences[0] if len(audiences) == 1 else list(audiences),
            "sub": self.role_arn,
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "jti": str(uuid.uuid4()),
            CLAIMS_NAMESPACE: {
                "aws_account": self.account_id,
                "source_region": self.region,
                "principal_id": self.role_arn,
            },
        }
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        with self._lock:
            self.issued.append(token)
        return token

    # -- HTTP --------------------------------------------------------------------------------

    def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return self._discovery(request.path)
        params = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action", "")
        signature = _SIGV4.match(request.header("authorization") or "")
        try:
            response = self._call(request, params, signature)
        except StsError as error:
            response = _error(error)
        with self._lock:
            self._calls.append(
                StsCall(
                    action=action,
                    params=params,
                    status=response.status,
                    region=signature["region"] if signature else None,
                    signed=signature is not None,
                )
            )
        return response

    def _call(
        self, request: HttpRequest, params: dict[str, str], signature: re.Match[str] | None
    ) -> HttpResponse:
        if not request.header("authorization"):
            raise StsError(
                403, "MissingAuthenticationToken", "Request is missing Authentication Token"
            )
        if signature is None or not request.header("x-amz-date"):
            raise StsError(
                400,
                "IncompleteSignature",
                "Authorization header requires a SigV4 Credential scope for service 'sts' "
                "and the X-Amz-Date header.",
            )
        if "form-urlencoded" not in (request.header("content-type") or ""):
            raise StsError(400, "InvalidParameterValue", "Expected a form-encoded Query request.")
        action = params.get("Action")
        if params.get("Version") != "2011-06-15":
            raise StsError(400, "InvalidParameterValue", "Version must be 2011-06-15.")
        if action != "GetWebIdentityToken":
            raise StsError(
                400, "InvalidAction", f"Could not find operation {action} for version 2011-06-15"
            )
        return self._get_web_identity_token(params)

    def _get_web_identity_token(self, params: dict[str, str]) -> HttpResponse:
        audiences = [
            value
            for key, value in sorted(params.items(), key=lambda kv: _member_index(kv[0]))
            if key.startswith("Audience.member.")
        ]
        known = {"Action", "Version", "SigningAlgorithm", "DurationSeconds"}
        unknown = [k for k in params if k not in known and not k.startswith("Audience.member.")]
        if unknown:
            raise StsError(400, "InvalidParameterValue", f"Unexpected parameters: {unknown}")
        if not 1 <= len(audiences) <= 10 or not all(1 <= len(a) <= 1000 for a in audiences):
            raise StsError(
                400,
                "ValidationError",
                "1 validation error detected: Value at 'audience' failed to satisfy "
                "constraint: Member must have length between 1 and 10",
            )
        algorithm = params.get("SigningAlgorithm")
        if algorithm != "RS256":
            raise StsError(
                400,
                "ValidationError",
                f"Value '{algorithm}' at 'signingAlgorithm' failed to satisfy constraint "
                "(the emulator signs RS256 only)",
            )
        seconds = int(params.get("DurationSeconds") or DEFAULT_SECONDS)
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise StsError(
                400,
                "ValidationError",
                f"Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: "
                f"Member must have value between {MIN_SECONDS} and {MAX_SECONDS}",
            )
        if not self.enabled:
            raise StsError(
                403,
                "OutboundWebIdentityFederationDisabledException",
                "Outbound web identity federation is disabled for this account.",
            )
        allowed = self.allowed_audiences
        if allowed is not None and not set(audiences) <= allowed:
            session = self.role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
            raise StsError(
                403,
                "AccessDenied",
                f"User: {session}/handler is not authorized to perform: "
                "sts:GetWebIdentityToken because no identity-based policy allows the "
                "sts:GetWebIdentityToken action",
            )
        token = self.issue_token(audiences, seconds)
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds + self._skew)
        body = (
            f'<GetWebIdentityTokenResponse xmlns="{NAMESPACE}">'
            "<GetWebIdentityTokenResult>"
            f"<WebIdentityToken>{token}</WebIdentityToken>"
            f"<Expiration>{expiry:%Y-%m-%dT%H:%M:%S.%f}"[:-3]
            + "Z</Expiration>"
            "</GetWebIdentityTokenResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</GetWebIdentityTokenResponse>"
        )
        return HttpResponse(200, body.encode(), {"Content-Type": "text/xml"})

    def _discovery(self, path: str) -> HttpResponse:
        base = f"/{self._issuer_id}/.well-known/"
        if path == base + "openid-configuration":
            document = {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES384"],
            }
            return HttpResponse(
                200, json.dumps(document).encode(), {"Content-Type": "application/json"}
            )
        if path == base + "jwks.json":
            numbers = self._key.public_key().public_numbers()
            key = {
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": self._kid,
                "n": _b64(numbers.n),
                "e": _b64(numbers.e),
            }
            return HttpResponse(
                200, json.dumps({"keys": [key]}).encode(), {"Content-Type": "application/json"}
            )
        return HttpResponse(404, b"Not Found", {"Content-Type": "text/plain"})


def _member_index(key: str) -> int:
    tail = key.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _error(error: StsError) -> HttpResponse:
    request_id = str(uuid.uuid4())
    body = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{error.kind}</Type>'
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return HttpResponse(
        error.status, body.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    )
