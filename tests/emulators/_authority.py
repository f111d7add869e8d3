"""The login.microsoftonline.com side: OpenID configuration, the v2.0 token endpoint for the
client-credentials grant, token validation for Graph, and app federation metadata."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import secrets
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlparse
from xml.sax.saxutils import quoteattr

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._directory import Directory
from ._http import HttpRequest, HttpResponse
from ._odata import GraphError, is_guid
from ._pki import der_base64, make_self_signed_rsa, sha1_thumbprint

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_AUDIENCES = (GRAPH_RESOURCE, GRAPH_RESOURCE + "/", GRAPH_APP_ID)
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_ROLES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")
TOKEN_LIFETIME = dt.timedelta(hours=1)

# The claim types Entra lists in app federation metadata (a subset of the real list).
CLAIM_TYPES = (
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "Name",
        "The mutable display name of the user.",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "Subject",
        "An immutable, globally unique, non-reusable identifier of the user that is unique to the "
        "application for which a token is issued.",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "Given Name",
        "First name of the user.",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
        "Surname",
        "Last name of the user.",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/displayname",
        "Display Name",
        "Display name of the user.",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/objectidentifier",
        "ObjectIdentifier",
        "Primary identifier for the user in the directory. Immutable, globally unique, "
        "non-reusable.",
    ),
    (
        "http://schemas.microsoft.com/identity/claims/tenantid",
        "TenantId",
        "Identifier for the user's tenant.",
    ),
    (
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "Email",
        "Email address of the user.",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
        "Groups",
        "Groups of the user.",
    ),
    (
        "http://schemas.microsoft.com/claims/groups.link",
        "GroupsOverageClaim",
        "Issued when number of user's group claims exceeds return limit.",
    ),
    (
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "Role Claim",
        "Roles that the user or Service Principal is attached to",
    ),
)


class TokenError(Exception):
    """An AADSTS error answer of the token endpoint."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status = status
        self.error = error
        self.code = code
        self.description = description


def _aad_error(error: TokenError) -> HttpResponse:
    trace = str(uuid.uuid4())
    body = {
        "error": error.error,
        "error_description": f"AADSTS{error.code}: {error.description} Trace ID: {trace} "
        f"Correlation ID: {uuid.uuid4()} Timestamp: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%SZ}",
        "error_codes": [error.code],
        "timestamp": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%SZ}",
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={error.code}",
    }
    return HttpResponse(
        error.status,
        json.dumps(body).encode(),
        {"Content-Type": "application/json; charset=utf-8"},
    )


def _error_page(status: int, code: int, message: str) -> HttpResponse:
    page = (
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
        f'<div id="error"><p>AADSTS{code}: {html.escape(message)}</p></div></body></html>'
    )
    return HttpResponse(status, page.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _b64url_thumbprint(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    digest = cert.fingerprint(algorithm)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Authority:
    """Token issuing and checking for one tenant with one registered deployer application."""

    def __init__(self, directory: Directory, client_id: str, client_secret: str) -> None:
        self.directory = directory
        self.client_id = client_id
        self.client_secret = client_secret
        self.url = ""  # set once the server is bound
        self.roles: tuple[str, ...] = DEFAULT_ROLES
        self.deployer_object_id = str(uuid.uuid4())
        self._lock = threading.Lock()
        self._client_certificates: dict[str, x509.Certificate] = {}
        # A new federated credential answers AADSTS70021 for this long (0: at once usable);
        # a credential's age counts from when it was added, or first seen by a token request.
        self.federation_propagation_seconds = 0.0
        self.federated_born: dict[str, float] = {}
        now = dt.datetime.now(dt.UTC)
        # One key signs access tokens and is also the tenant's default SAML signing key.
        tenant_cert = make_self_signed_rsa(
            x509.Name.from_rfc4514_string("CN=Microsoft Azure Federated SSO Certificate"),
            now - dt.timedelta(days=30),
            now + dt.timedelta(days=3 * 365),
        )
        self.tenant_certificate = tenant_cert
        assert isinstance(tenant_cert.key, rsa.RSAPrivateKey)
        self._signing_key: rsa.RSAPrivateKey = tenant_cert.key
        self.key_id = _b64url_thumbprint(tenant_cert.cert, hashes.SHA1())  # noqa: S303

    # -- configuration -----------------------------------------------------------------------

    def register_certificate(self, pem: bytes | str) -> str:
        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        thumbprint = sha1_thumbprint(cert.public_bytes(serialization.Encoding.DER))
        with self._lock:
            self._client_certificates[thumbprint] = cert
        return thumbprint

    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.directory.tenant_id.lower(), self.directory.domain.lower())

    # -- tokens ------------------------------------------------------------------------------

    def issue_token(
        self,
        *,
        audience: str = GRAPH_RESOURCE,
        lifetime: dt.timedelta = TOKEN_LIFETIME,
        roles: tuple[str, ...] | None = None,
        appidacr: str = "1",
    ) -> str:
        now = int(time.time())
        tenant = self.directory.tenant_id
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime.total_seconds()),
            "app_displayname": "deployer",
            "appid": self.client_id,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant}/",
            "idtyp": "app",
            "oid": self.deployer_object_id,
            "roles": list(self.roles if roles is None else roles),
            "sub": self.deployer_object_id,
            "tid": tenant,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        return jwt.encode(
            claims, self._signing_key, algorithm="RS256", headers={"kid": self.key_id}
        )

    def validate_graph_token(self, request: HttpRequest) -> dict[str, Any]:
        """The claims of the request's bearer token, or the 401 Graph answers."""
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Access token is empty.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                self._signing_key.public_key(),
                algorithms=["RS256"],
                audience=list(GRAPH_AUDIENCES),
                issuer=f"https://sts.windows.net/{self.directory.tenant_id}/",
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("Lifetime validation failed, the token is expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized("Access token validation failure. Invalid audience.") from exc
        except jwt.DecodeError as exc:
            raise _unauthorized("IDX14100: JWT is not well formed.") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("Access token validation failure.") from exc
        return claims

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        parts = request.path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        route = (request.method, "/".join(parts[1:]).lower())
        endpoints = {
            ("GET", "v2.0/.well-known/openid-configuration"): self._openid_configuration,
            ("POST", "oauth2/v2.0/token"): self._token,
            ("GET", "discovery/v2.0/keys"): self._keys,
            ("GET", "federationmetadata/2007-06/federationmetadata.xml"): self._metadata,
        }
        endpoint = endpoints.get(route)
        if endpoint is None:
            return _error_page(404, 90000, f"The emulator has no endpoint '{request.path}'.")
        try:
            return endpoint(tenant, request)
        except TokenError as error:
            return _aad_error(error)

    def _openid_configuration(self, tenant: str, _request: HttpRequest) -> HttpResponse:
        if not self.known_tenant(tenant):
            raise _unknown_tenant(tenant)
        base = f"{self.url}/{tenant}"
        config = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{self.directory.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid", "roles"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }
        return HttpResponse(
            200, json.dumps(config).encode(), {"Content-Type": "application/json; charset=utf-8"}
        )

    def _keys(self, _tenant: str, _request: HttpRequest) -> HttpResponse:
        public = self._signing_key.public_key()
        numbers = public.public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        key = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.key_id,
            "x5t": self.key_id,
            "n": b64(numbers.n),
            "e": b64(numbers.e),
            "x5c": [der_base64(self.tenant_certificate.cert)],
        }
        return HttpResponse(
            200, json.dumps({"keys": [key]}).encode(), {"Content-Type": "application/json"}
        )

    def _token(self, tenant: str, request: HttpRequest) -> HttpResponse:
        if not self.known_tenant(tenant):
            raise _unknown_tenant(tenant)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "")
        if client_id != self.client_id:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )
        appidacr = self._authenticate_client(form, tenant)
        resource = self._resource(form.get("scope", ""), tenant)
        token = self.issue_token(audience=resource, appidacr=appidacr)
        lifetime = int(TOKEN_LIFETIME.total_seconds())
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
        return HttpResponse(
            200,
            json.dumps(body).encode(),
            {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        )

    def _authenticate_client(self, form: Mapping[str, str], tenant: str) -> str:
        if "client_secret" in form:
            if not secrets.compare_digest(form["client_secret"], self.client_secret):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{self.client_id}'.",
                )
            return "1"
        if form.get("client_assertion_type") == JWT_BEARER and form.get("client_assertion"):
            assertion = form["client_assertion"]
            if _unverified(assertion).get("iss") in (None, self.client_id):
                self._check_assertion(assertion, tenant)
            else:  # issued by someone else: a workload identity federation token
                self._check_federated_assertion(assertion)
            return "2"
        raise TokenError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )

    def _check_assertion(self, assertion: str, tenant: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.DecodeError as exc:
            raise TokenError(
                401, "invalid_client", 50027, "JWT token is invalid or malformed."
            ) from exc
        with self._lock:
            certificates = dict(self._client_certificates)
        # azure-identity pads its base64url thumbprints; Entra matches them either way.
        x5t = str(header.get("x5t") or "").rstrip("=")
        x5t_s256 = str(header.get("x5t#S256") or "").rstrip("=")
        matching = [
            cert
            for cert in certificates.values()
            if x5t == _b64url_thumbprint(cert, hashes.SHA1())  # noqa: S303
            or x5t_s256 == _b64url_thumbprint(cert, hashes.SHA256())
        ]
        if not matching:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                f"The certificate with identifier used to sign the client assertion is not "
                f"registered on application. [Reason - The key was not found., Thumbprint of "
                f"key used by client: '{x5t or x5t_s256}']",
            )
        audience = f"{self.url}/{tenant}/oauth2/v2.0/token"
        try:
            claims = jwt.decode(
                assertion,
                matching[0].public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=[audience, f"{self.url}/{tenant}/oauth2/token"],
                options={"require": ["exp", "aud", "iss", "sub"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError(
                401,
                "invalid_client",
                700016,
                f"The audience of the client assertion is not '{audience}'.",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                f"Client assertion failed signature validation. {exc}",
            ) from exc
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise TokenError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )

    def _check_federated_assertion(self, assertion: str) -> None:
        """Entra's checks of a federated client assertion, against the deployer app's
        federated identity credentials: issuer, subject, audience, then the issuer's
        signing key (fetched from its OIDC discovery document) and the validity window."""
        claims = _unverified(assertion)
        issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
        audiences = claims.get("aud")
        presented = [audiences] if isinstance(audiences, str) else list(audiences or [])
        with self.directory.lock:
            records = _copies(self.directory.federated_identity_credentials(self.client_id))
        hint = (
            "Please check your federated identity credential Subject, Audience and Issuer "
            "against the presented assertion. "
            "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
        )
        records = [r for r in records if r.get("issuer") == issuer]
        if not records:
            raise TokenError(
                401,
                "invalid_client",
                700211,
                f"No matching federated identity record found for presented assertion issuer "
                f"'{issuer}'. {hint}",
            )
        records = [r for r in records if r.get("subject") == subject]
        if not records:
            raise TokenError(
                401,
                "invalid_client",
                700213,
                f"No matching federated identity record found for presented assertion subject "
                f"'{subject}'. {hint}",
            )
        records = [r for r in records if set(presented) & set(r.get("audiences") or [])]
        if not records:
            raise TokenError(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion audience "
                f"'{','.join(presented)}'. {hint}",
            )
        self._check_propagated(records, issuer, subject, presented)
        self._verify_federated_signature(assertion, issuer, presented)

    def _check_propagated(
        self, records: list[dict[str, Any]], issuer: str, subject: str, audiences: list[str]
    ) -> None:
        """Entra: "It takes time for the federated identity credential to be propagated ...
        an authorization request might fail with error message: AADSTS70021: No matching
        federated identity record found for presented assertion." (MicrosoftDocs/entra-docs:
        docs/workload-id/workload-identity-federation-considerations.md). The answer's shape
        (400 invalid_request, the assertion's issuer, subject and audience) is a real one
        quoted in Azure/azure-workload-identity#616."""
        if self.federation_propagation_seconds <= 0:
            return
        now = time.monotonic()
        with self._lock:
            born = [self.federated_born.setdefault(str(r.get("id")), now) for r in records]
        if any(now - moment >= self.federation_propagation_seconds for moment in born):
            return
        raise TokenError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. "
            f"Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. "
            f"Assertion Audience: '{','.join(audiences)}'. "
            "https://docs.microsoft.com/en-us/azure/active-directory/develop/"
            "workload-identity-federation",
        )

    @staticmethod
    def _verify_federated_signature(assertion: str, issuer: str, audiences: list[str]) -> None:
        kid = str(jwt.get_unverified_header(assertion).get("kid") or "")
        keys = _issuer_keys(issuer)
        key = keys.get(kid)
        if key is None:
            raise TokenError(
                401,
                "invalid_client",
                7000272,
                f"The certificate with identifier {kid} used to sign the federated credential "
                f"could not be found in the metadata of identity provider {issuer}. Please "
                "validate that your Identity Provider's metadata exposes the key used to sign "
                "the incoming token.",
            )
        try:
            jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=audiences,
                issuer=issuer,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
            claims = _unverified(assertion)
            now = dt.datetime.now(dt.UTC)

            def moment(name: str) -> str:
                value = claims.get(name)
                stamp = (
                    dt.datetime.fromtimestamp(int(value), dt.UTC)
                    if value
                    else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
                )
                return f"{stamp:%Y-%m-%dT%H:%M:%S.0000000Z}"

            raise TokenError(
                401,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: "
                f"{now:%Y-%m-%dT%H:%M:%S.0000000Z}, assertion valid from {moment('nbf')}, "
                f"expiry time of assertion {moment('exp')}. Review the documentation at "
                "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation. [Reason - The provided "
                "signature value did not match the expected signature value.]",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(
                400, "invalid_request", 50027, f"JWT token is invalid or malformed. {exc}"
            ) from exc

    @staticmethod
    def _resource(scope: str, tenant: str) -> str:
        scopes = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        if not scopes:
            raise TokenError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        target = scopes[0]
        if not target.endswith("/.default"):
            raise TokenError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {target} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = target[: -len("/.default")]
        if resource.rstrip("/") not in (GRAPH_RESOURCE, GRAPH_APP_ID):
            raise TokenError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
            )
        return GRAPH_RESOURCE

    # -- federation metadata -----------------------------------------------------------------

    def _metadata(self, tenant: str, request: HttpRequest) -> HttpResponse:
        app_id = request.query.get("appid")
        if not self.known_tenant(tenant):
            return _error_page(400, 90002, f"Tenant '{tenant}' not found.")
        directory = self.directory
        with directory.lock:
            served: tuple[str, ...] = ()
            if app_id is not None:
                record = directory.sp_for_app(app_id) if is_guid(app_id) else None
                if record is None:
                    return _error_page(
                        400,
                        700016,
                        f"Application with identifier '{app_id}' was not found in the directory "
                        f"'{tenant}'.",
                    )
                served = record.published_der()
                if record.metadata_stale_fetches > 0:
                    record.metadata_stale_fetches -= 1
                    served = record.metadata_stale
                elif time.monotonic() < record.metadata_stale_until:
                    served = record.metadata_stale
        # An app without a signing certificate of its own is served the tenant's default one.
        listed = served or (der_base64(self.tenant_certificate.cert),)
        document = build_metadata(directory.tenant_id, self.url, listed)
        return HttpResponse(200, document, {"Content-Type": "application/xml; charset=utf-8"})


def _unauthorized(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.'
            'com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )


def _unverified(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise TokenError(
            400, "invalid_request", 50027, "JWT token is invalid or malformed."
        ) from exc
    return claims


def _copies(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(record) for record in records]


def _issuer_keys(issuer: str) -> dict[str, Any]:
    """The issuer's signing keys by kid, through OIDC discovery (loopback issuers only)."""
    if urlparse(issuer).hostname not in ("127.0.0.1", "localhost"):
        # A test set up a credential for a real issuer: a misuse, reported as an emulator error.
        raise ValueError(f"the emulator reaches identity providers on loopback only: {issuer}")
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as answer:  # noqa: S310
        discovery = json.load(answer)
    with urllib.request.urlopen(str(discovery["jwks_uri"]), timeout=10) as answer:  # noqa: S310
        jwks = json.load(answer)
    return {
        str(key.get("kid")): jwt.PyJWK.from_dict(key).key
        for key in jwks.get("keys", [])
        if key.get("kty") == "RSA"
    }


def _unknown_tenant(tenant: str) -> TokenError:
    return TokenError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def build_metadata(
    tenant_id: str, authority_url: str, certificate_b64: str | Sequence[str]
) -> bytes:
    """An app federation metadata document shaped like Entra's (unsigned), with one signing
    KeyDescriptor per certificate in each role."""
    listed = [certificate_b64] if isinstance(certificate_b64, str) else list(certificate_b64)
    key_info = "".join(
        '<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">'
        f"<X509Data><X509Certificate>{certificate}</X509Certificate></X509Data>"
        "</KeyInfo></KeyDescriptor>"
        for certificate in listed
    )
    wsfed = f"{authority_url}/{tenant_id}/wsfed"
    saml2 = f"{authority_url}/{tenant_id}/saml2"
    issuer = f"https://sts.windows.net/{tenant_id}/"
    auth_ns = 'xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706"'
    claims = "".join(
        f"<auth:ClaimType Uri={quoteattr(uri)} {auth_ns}><auth:DisplayName>{name}"
        f"</auth:DisplayName><auth:Description>{html.escape(text)}</auth:Description>"
        "</auth:ClaimType>"
        for uri, name, text in CLAIM_TYPES
    )

    def endpoint(tag: str, address: str) -> str:
        return (
            f'<fed:{tag}><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">'
            f"<wsa:Address>{address}</wsa:Address></wsa:EndpointReference></fed:{tag}>"
        )

    role_ns = (
        'protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"'
    )
    document = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EntityDescriptor ID="_{uuid.uuid4()}" entityID="{issuer}" '
        'xmlns="urn:oasis:names:tc:SAML:2.0:metadata">'
        f'<RoleDescriptor xsi:type="fed:SecurityTokenServiceType" {role_ns}>{key_info}'
        f"<fed:ClaimTypesOffered>{claims}</fed:ClaimTypesOffered>"
        f"{endpoint('SecurityTokenServiceEndpoint', wsfed)}"
        f"{endpoint('PassiveRequestorEndpoint', wsfed)}</RoleDescriptor>"
        f'<RoleDescriptor xsi:type="fed:ApplicationServiceType" {role_ns}>{key_info}'
        f"{endpoint('TargetScopes', issuer)}{endpoint('ApplicationServiceEndpoint', wsfed)}"
        f"{endpoint('PassiveRequestorEndpoint', wsfed)}</RoleDescriptor>"
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{key_info}"
        '<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{saml2}" />'
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{saml2}" />'
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{saml2}" />'
        "</IDPSSODescriptor></EntityDescriptor>"
    )
    return document.encode("utf-8")
