"""Read-only Microsoft Graph access for `mobile-sso doctor`.

Plain httpx GETs with a bearer token from azure-identity: the doctor reads four things
(the application, its service principal, its assignments, and assigned users' mail), and
msgraph-sdk would cost seconds of import and model loading for that. The custom resource's
adapter (lambda/entra_saml_app/graph.py) is not importable from the installed CLI.

Endpoints follow the tenant's cloud; `ENTRA_GRAPH_ENDPOINT` and `ENTRA_LOGIN_AUTHORITY`
override them (the names the custom resource reads), and `REQUESTS_CA_BUNDLE` or
`SSL_CERT_FILE` name the CA bundle to trust, so tests point the doctor at an emulator.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, urlparse, urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

GRAPH_ENDPOINT_ENV = "ENTRA_GRAPH_ENDPOINT"
LOGIN_AUTHORITY_ENV = "ENTRA_LOGIN_AUTHORITY"
HTTP_TIMEOUT_SECONDS = 30.0
PAGE_SIZE = 999
MAX_PAGES = 20  # 20 * 999 assignments is far beyond what a mobile SSO app holds
# A page of 999 assignments is about 0.5 MB; a Graph answer past this is refused while it is
# read, before it is parsed.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class Cloud:
    graph: str
    login: str


# Microsoft's documented endpoints per national cloud (the custom resource uses the same;
# tests/test_doctor.py pins the two tables together).
CLOUDS: Mapping[str, Cloud] = {
    "global": Cloud("https://graph.microsoft.com", "https://login.microsoftonline.com"),
    "usgov": Cloud("https://graph.microsoft.us", "https://login.microsoftonline.us"),
    "usgov-dod": Cloud("https://dod-graph.microsoft.us", "https://login.microsoftonline.us"),
    "china": Cloud("https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
}
PUBLIC_AUTHORITY_HOSTS = frozenset(urlparse(c.login).hostname for c in CLOUDS.values())
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class CredentialSource(StrEnum):
    """Where the doctor's Graph token comes from."""

    SECRET = "secret"  # noqa: S105 - the name of a choice, not a secret
    CLI = "cli"
    DEFAULT = "default"


class EntraError(Exception):
    """A step against Entra cannot go on; `fix` says what to do about it, `status` and
    `code` are Graph's HTTP status and error code when Graph answered."""

    def __init__(self, message: str, fix: str, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.status = status
        self.code = code


class EntraReadError(EntraError):
    """Entra could not be read."""


@dataclass(frozen=True)
class Endpoints:
    graph: str
    login: str
    scope: str
    ca_bundle: str | None = None
    cloud: str = "global"

    @classmethod
    def for_cloud(cls, cloud: str, env: Mapping[str, str] | None = None) -> Endpoints:
        """The cloud's endpoints, overridden by the environment; the token scope stays the
        cloud's Graph, whatever host answers for it."""
        env = os.environ if env is None else env
        chosen = CLOUDS[cloud]
        return cls(
            graph=_endpoint(env, GRAPH_ENDPOINT_ENV, chosen.graph),
            login=_endpoint(env, LOGIN_AUTHORITY_ENV, chosen.login),
            scope=f"{chosen.graph}/.default",
            ca_bundle=ca_bundle(env),
            cloud=cloud,
        )

    def tls(self) -> ssl.SSLContext:
        """What to trust: the configured CA bundle, else the system's roots."""
        return ssl.create_default_context(cafile=self.ca_bundle)

    @property
    def public_authority(self) -> bool:
        return urlparse(self.login).hostname in PUBLIC_AUTHORITY_HOSTS


def ca_bundle(env: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle the environment names (REQUESTS_CA_BUNDLE, then SSL_CERT_FILE)."""
    env = os.environ if env is None else env
    return env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or None


def _endpoint(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    parsed = urlparse(value)
    plain_http_ok = parsed.scheme == "http" and parsed.hostname in _LOOPBACK
    if not parsed.hostname or (parsed.scheme != "https" and not plain_http_ok):
        raise EntraReadError(
            f"environment {name}={value!r} is not an https:// URL",
            f"unset {name}, or set it to the https root URL of the service",
        )
    return value


def graph_url(
    endpoints: Endpoints, path: str, call: str, error: type[EntraError] = EntraReadError
) -> str:
    """The URL to send `path` to: a path goes under the configured Graph root; an absolute
    URL (an `@odata.nextLink`) is followed only on the root's scheme, host and port, since
    the request carries the bearer token."""
    if not path.lower().startswith(("https:", "http:", "//")):
        return f"{endpoints.graph}/v1.0{path}"
    if not same_origin(path, endpoints.graph):
        host = urlsplit(path).hostname or path[:80]
        raise error(
            f"Microsoft Graph {call} answered a next-page link to {host!r}, which is not "
            f"{endpoints.graph}: not following it (the request would carry the Graph token)",
            f"Check that ENTRA_GRAPH_ENDPOINT (now {endpoints.graph}) is Microsoft Graph's "
            "root URL and that no proxy rewrites Graph's answers; report it if it persists.",
        )
    return path


def same_origin(url: str, root: str) -> bool:
    """Whether `url` has the scheme, host and port of `root` (and no user info)."""
    try:
        a, b = urlsplit(url), urlsplit(root)
        ports = (
            (a.port or _DEFAULT_PORTS.get(a.scheme.lower())),
            (b.port or _DEFAULT_PORTS.get(b.scheme.lower())),
        )
    except ValueError:  # a port that is not a number
        return False
    return (
        a.scheme.lower() == b.scheme.lower()
        and a.hostname is not None
        and a.hostname == b.hostname
        and ports[0] == ports[1]
        and a.username is None
        and a.password is None
    )


def send_bounded(
    http: Any,
    method: str,
    url: str,
    call: str,
    *,
    error: type[EntraError] = EntraReadError,
    **kwargs: Any,
) -> Any:
    """`http.request(...)` whose body is read up to MAX_RESPONSE_BYTES (decoded) and refused
    past it, so a huge answer fails before it fills memory. Returns an httpx.Response holding
    the body read."""
    import httpx  # noqa: PLC0415

    limit = MAX_RESPONSE_BYTES

    def too_big() -> EntraError:
        return error(
            f"Microsoft Graph {call} answered more than {limit // (1024 * 1024)} MB: not "
            "reading it",
            "Check that ENTRA_GRAPH_ENDPOINT is Microsoft Graph's root URL and that no proxy "
            "rewrites Graph's answers.",
        )

    with http.stream(method, url, **kwargs) as streamed:
        declared = streamed.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_big()
        body = bytearray()
        for chunk in streamed.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise too_big()
    # The body is decoded already: drop the headers that describe the wire form.
    headers = httpx.Headers(streamed.headers)
    for name in ("Content-Encoding", "Content-Length", "Transfer-Encoding"):
        headers.pop(name, None)
    return httpx.Response(
        streamed.status_code, headers=headers, content=bytes(body), request=streamed.request
    )


# --- what the doctor reads -------------------------------------------------------------


@dataclass(frozen=True)
class EntraApplication:
    object_id: str
    app_id: str
    display_name: str
    identifier_uris: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    logout_url: str | None
    # Which groups Entra puts in its tokens (ApplicationGroup, SecurityGroup, All, ...);
    # None when it sends no groups claim.
    group_membership_claims: str | None = None


@dataclass(frozen=True)
class EntraServicePrincipal:
    object_id: str
    display_name: str
    enabled: bool
    sso_mode: str | None
    assignment_required: bool
    active_thumbprint: str | None


@dataclass(frozen=True)
class Assignment:
    principal_id: str
    principal_type: str  # User, Group or ServicePrincipal
    display_name: str


@dataclass(frozen=True)
class FederatedCredential:
    """One federated identity credential of an app registration: tokens from `issuer`
    about `subject`, for one of `audiences`, sign in as the app."""

    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class EntraUser:
    object_id: str
    display_name: str
    user_principal_name: str
    mail: str | None


@dataclass(frozen=True)
class EntraGroup:
    object_id: str
    display_name: str


class GraphReader(Protocol):
    """The reads the doctor makes; each returns None when Graph answers 404."""

    def application(self, app_id: str) -> EntraApplication | None: ...

    def service_principal(self, app_id: str) -> EntraServicePrincipal | None: ...

    def assignments(self, service_principal_id: str) -> list[Assignment]: ...

    def federated_credentials(self, app_id: str) -> list[FederatedCredential] | None:
        """The app registration's federated credentials; None when there is no app
        registration with `app_id`."""
        ...

    def user(self, object_id: str) -> EntraUser | None: ...

    def member_groups(self, group_id: str) -> list[EntraGroup] | None:
        """The groups that are direct members of a group (the first page); None when there
        is no such group."""
        ...


APPLICATION_FIELDS = "id,appId,displayName,identifierUris,web,groupMembershipClaims"
SERVICE_PRINCIPAL_FIELDS = (
    "id,appId,displayName,accountEnabled,preferredSingleSignOnMode,appRoleAssignmentRequired,"
    "preferredTokenSigningKeyThumbprint"
)
ASSIGNMENT_FIELDS = "principalId,principalType,principalDisplayName"
USER_FIELDS = "id,displayName,userPrincipalName,mail"

_PERMISSION_FIX = (
    "Grant the credential Application.Read.All (or use the deployer's, which holds "
    "Application.ReadWrite.All), with admin consent; or sign in as an Entra admin with "
    "--entra-credentials cli."
)


class HttpGraphReader:
    """`GraphReader` over plain HTTP: GET requests with a bearer token, nothing else."""

    def __init__(
        self,
        http: Any,  # an httpx.Client, imported only when the doctor reads Entra
        endpoints: Endpoints,
        credential: TokenCredential,
        tenant_id: str,
        *,
        ask_for_tenant: bool = False,
    ) -> None:
        self._http = http
        self._endpoints = endpoints
        self._credential = credential
        self._tenant_id = tenant_id
        self._ask_for_tenant = ask_for_tenant
        self._token: str | None = None

    def application(self, app_id: str) -> EntraApplication | None:
        data = self._get(
            f"/applications(appId='{quote(app_id)}')",
            {"$select": APPLICATION_FIELDS},
            "GET /applications(appId=...)",
        )
        if data is None:
            return None
        web = data.get("web") or {}
        return EntraApplication(
            object_id=str(data.get("id") or ""),
            app_id=str(data.get("appId") or app_id),
            display_name=str(data.get("displayName") or ""),
            identifier_uris=tuple(data.get("identifierUris") or ()),
            redirect_uris=tuple(web.get("redirectUris") or ()),
            logout_url=web.get("logoutUrl") or None,
            group_membership_claims=data.get("groupMembershipClaims") or None,
        )

    def service_principal(self, app_id: str) -> EntraServicePrincipal | None:
        data = self._get(
            f"/servicePrincipals(appId='{quote(app_id)}')",
            {"$select": SERVICE_PRINCIPAL_FIELDS},
            "GET /servicePrincipals(appId=...)",
        )
        if data is None:
            return None
        return EntraServicePrincipal(
            object_id=str(data.get("id") or ""),
            display_name=str(data.get("displayName") or ""),
            enabled=data.get("accountEnabled") is not False,
            sso_mode=data.get("preferredSingleSignOnMode") or None,
            assignment_required=bool(data.get("appRoleAssignmentRequired")),
            active_thumbprint=data.get("preferredTokenSigningKeyThumbprint") or None,
        )

    def assignments(self, service_principal_id: str) -> list[Assignment]:
        call = "GET /servicePrincipals/{id}/appRoleAssignedTo"
        page = self._get(
            f"/servicePrincipals/{quote(service_principal_id)}/appRoleAssignedTo",
            {"$select": ASSIGNMENT_FIELDS, "$top": str(PAGE_SIZE)},
            call,
        )
        found: list[Assignment] = []
        for _ in range(MAX_PAGES):
            if page is None:
                break
            found.extend(
                Assignment(
                    principal_id=str(item.get("principalId") or ""),
                    principal_type=str(item.get("principalType") or ""),
                    display_name=str(item.get("principalDisplayName") or ""),
                )
                for item in page.get("value") or []
            )
            next_link = page.get("@odata.nextLink")
            page = self._get(str(next_link), None, call) if next_link else None
        return found

    def federated_credentials(self, app_id: str) -> list[FederatedCredential] | None:
        data = self._get(
            f"/applications(appId='{quote(app_id)}')/federatedIdentityCredentials",
            None,
            "GET /applications(appId=...)/federatedIdentityCredentials",
        )
        if data is None:
            return None
        return [
            FederatedCredential(
                name=str(item.get("name") or ""),
                issuer=str(item.get("issuer") or ""),
                subject=str(item.get("subject") or ""),
                audiences=tuple(str(a) for a in item.get("audiences") or ()),
            )
            for item in data.get("value") or []
        ]

    def user(self, object_id: str) -> EntraUser | None:
        data = self._get(f"/users/{quote(object_id)}", {"$select": USER_FIELDS}, "GET /users/{id}")
        if data is None:
            return None
        return EntraUser(
            object_id=str(data.get("id") or object_id),
            display_name=str(data.get("displayName") or ""),
            user_principal_name=str(data.get("userPrincipalName") or ""),
            mail=data.get("mail") or None,
        )

    def member_groups(self, group_id: str) -> list[EntraGroup] | None:
        data = self._get(
            f"/groups/{quote(group_id)}/members/microsoft.graph.group",
            {"$select": "id,displayName", "$top": str(PAGE_SIZE)},
            "GET /groups/{id}/members/microsoft.graph.group",
        )
        if data is None:
            return None
        return [
            EntraGroup(str(item.get("id") or ""), str(item.get("displayName") or ""))
            for item in data.get("value") or []
        ]

    # -- HTTP --------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str] | None, call: str) -> dict[str, Any] | None:
        import httpx  # noqa: PLC0415

        url = graph_url(self._endpoints, path, call)
        headers = {"Authorization": f"Bearer {self._bearer()}", "Accept": "application/json"}
        try:
            response = send_bounded(self._http, "GET", url, call, params=params, headers=headers)
        except httpx.HTTPError as error:
            raise EntraReadError(
                f"Microsoft Graph {call} failed: {error or type(error).__name__}",
                f"Check the network route to {self._endpoints.graph} (proxy, firewall), or "
                "skip the Entra checks with --skip-entra.",
            ) from error
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            code, message = _graph_error(response)
            fix = (
                _PERMISSION_FIX
                if response.status_code in (401, 403)
                else "Retry; if it persists, look the request id up in Entra's audit logs."
            )
            raise EntraReadError(
                f"Microsoft Graph {call} answered {response.status_code} {code}: {message}",
                fix,
                status=response.status_code,
            )
        body: Any = response.json()
        if not isinstance(body, dict):
            raise EntraReadError(
                f"Microsoft Graph {call} answered something other than a JSON object",
                "Check ENTRA_GRAPH_ENDPOINT: it must be the Graph root URL.",
            )
        return body

    def _url(self, path: str) -> str:
        return f"{self._endpoints.graph}/v1.0{path}"

    def _bearer(self) -> str:
        if self._token is None:
            self._token = _access_token(
                self._credential, self._endpoints, self._tenant_id, self._ask_for_tenant
            )
        return self._token


def _graph_error(response: Any) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", response.text[:200]
    return str(error.get("code") or ""), str(error.get("message") or "")


def _access_token(
    credential: TokenCredential, endpoints: Endpoints, tenant_id: str, ask_for_tenant: bool
) -> str:
    from azure.core.exceptions import AzureError  # noqa: PLC0415

    # A credential made for one tenant gets its token there; a chained one is told where.
    try:
        if ask_for_tenant:
            return credential.get_token(endpoints.scope, tenant_id=tenant_id).token
        return credential.get_token(endpoints.scope).token
    except AzureError as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise EntraReadError(
            f"could not get a Microsoft Graph token for tenant {tenant_id} from "
            f"{endpoints.login}: {first_line}",
            "With --entra-credentials secret (the default): check that the deployer secret "
            "holds a current clientSecret or certificatePem of an app registration in this "
            "tenant. With cli: run `az login --tenant <tenant id>` first.",
        ) from None


# --- credentials -----------------------------------------------------------------------

EXPECTED_SHAPE = (
    '{"tenantId": "<tenant GUID>", "clientId": "<app GUID>", '
    'and "clientSecret": "..." or "certificatePem": "<PEM with key and certificate>"}'
)


@dataclass(frozen=True)
class DeployerSecret:
    """The deployer app registration's credentials, as the stack's secret holds them."""

    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate_pem: str | None = field(default=None, repr=False)


class SecretsClient(Protocol):
    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


def deployer_secret_location(
    tenant_id: str, reference: str | None, default_region: str
) -> tuple[str, str]:
    """The deployer secret's name or ARN and its region. A federated tenant has no secret:
    only the stack's handler role can sign in as the deployer."""
    if reference is None:
        raise EntraReadError(
            f"tenant {tenant_id} uses federated credentials: there is no deployer secret to "
            "read outside the stack's handler role",
            "Read Entra as an admin with --entra-credentials cli.",
        )
    region = reference.split(":")[3] if reference.startswith("arn:") else default_region
    return reference, region


def read_deployer_secret(reference: str, client: SecretsClient) -> DeployerSecret:
    """The deployer credentials stored under `reference` (a secret name or ARN)."""
    try:
        response = client.get_secret_value(SecretId=reference)
    except Exception as error:  # botocore's errors, without importing botocore here
        details = getattr(error, "response", {}).get("Error", {})
        code = details.get("Code") or type(error).__name__
        raise EntraReadError(
            f"reading the deployer secret {reference} failed ({code}: "
            f"{details.get('Message') or error})",
            "Sign in to AWS with permission to call secretsmanager:GetSecretValue on it (and "
            "kms:Decrypt on its key), or read Entra as an admin with --entra-credentials cli.",
        ) from None
    try:
        data = json.loads(response.get("SecretString") or "")
    except json.JSONDecodeError:
        data = None
    secret = data.get("clientSecret") if isinstance(data, dict) else None
    pem = data.get("certificatePem") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or not data.get("tenantId")
        or not data.get("clientId")
        or not (secret or pem)
    ):
        raise EntraReadError(
            f"the deployer secret {reference} is not of the expected shape {EXPECTED_SHAPE}",
            "Store the credentials as docs/entra-setup.md shows.",
        )
    return DeployerSecret(
        tenant_id=str(data["tenantId"]),
        client_id=str(data["clientId"]),
        client_secret=str(secret) if secret else None,
        certificate_pem=None if secret else str(pem),
    )


def make_credential(
    source: CredentialSource,
    endpoints: Endpoints,
    tenant_id: str,
    deployer: Callable[[], DeployerSecret],
) -> TokenCredential:
    """An azure-identity credential for `source` (sync: a CLI makes a handful of calls)."""
    try:
        from azure import identity  # noqa: PLC0415
    except ImportError:
        raise EntraReadError(
            "the Entra checks need azure-identity and httpx, which are not installed",
            "pip install azure-identity httpx, or check only AWS with --skip-entra.",
        ) from None
    options: dict[str, Any] = {"authority": endpoints.login}
    if endpoints.ca_bundle:
        options["connection_verify"] = endpoints.ca_bundle
    if not endpoints.public_authority:
        options["disable_instance_discovery"] = True
    credential: TokenCredential
    if source is CredentialSource.SECRET:
        stored = deployer()
        if stored.tenant_id.lower() != tenant_id.lower():
            raise EntraReadError(
                f"the deployer secret holds credentials for tenant {stored.tenant_id}, not "
                f"{tenant_id}",
                "Point entra[].credentials_secret at this tenant's deployer secret, or read "
                "Entra as an admin of the tenant with --entra-credentials cli.",
            )
        if stored.client_secret:
            credential = identity.ClientSecretCredential(
                stored.tenant_id, stored.client_id, stored.client_secret, **options
            )
        else:
            credential = identity.CertificateCredential(
                stored.tenant_id,
                stored.client_id,
                certificate_data=(stored.certificate_pem or "").encode(),
                **options,
            )
    elif source is CredentialSource.CLI:
        credential = identity.AzureCliCredential(tenant_id=tenant_id)
    else:
        credential = identity.DefaultAzureCredential(
            authority=endpoints.login, additionally_allowed_tenants=[tenant_id]
        )
    return credential


_Client = TypeVar("_Client", bound="HttpGraphReader")


@contextmanager
def _open(
    kind: type[_Client],
    missing_httpx: tuple[str, str],
    *,
    source: CredentialSource,
    endpoints: Endpoints,
    tenant_id: str,
    deployer: Callable[[], DeployerSecret],
) -> Iterator[_Client]:
    """A Graph client for one tenant; its credential and connections are closed afterwards."""
    try:
        import httpx  # noqa: PLC0415
    except ImportError:
        raise EntraReadError(*missing_httpx) from None
    credential = make_credential(source, endpoints, tenant_id, deployer)
    try:
        with httpx.Client(verify=endpoints.tls(), timeout=HTTP_TIMEOUT_SECONDS) as http:
            yield kind(
                http,
                endpoints,
                credential,
                tenant_id,
                ask_for_tenant=source is CredentialSource.DEFAULT,
            )
    finally:
        close = getattr(credential, "close", None)
        if callable(close):
            close()


def open_reader(
    source: CredentialSource,
    endpoints: Endpoints,
    tenant_id: str,
    deployer: Callable[[], DeployerSecret],
) -> AbstractContextManager[HttpGraphReader]:
    """A Graph reader for one tenant (the doctor's Entra checks)."""
    return _open(
        HttpGraphReader,
        (
            "the Entra checks need httpx, which is not installed",
            "pip install httpx, or check only AWS with --skip-entra.",
        ),
        source=source,
        endpoints=endpoints,
        tenant_id=tenant_id,
        deployer=deployer,
    )


# --- signing certificates: what `mobile-sso rotate-certificate` reads and writes -------


@dataclass(frozen=True)
class SigningCertificate:
    """One token signing certificate of an enterprise application (its Sign and Verify
    keyCredentials and its passwordCredential share a customKeyIdentifier)."""

    thumbprint: str
    custom_key_identifier: str
    display_name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SigningCertificates:
    service_principal_id: str
    display_name: str
    active_thumbprint: str | None
    certificates: tuple[SigningCertificate, ...]
    # As Graph returned them: a removal sends them back without the removed certificate's.
    key_credentials: tuple[Mapping[str, Any], ...] = ()
    password_credentials: tuple[Mapping[str, Any], ...] = ()

    @property
    def active(self) -> SigningCertificate | None:
        wanted = (self.active_thumbprint or "").upper()
        return next((c for c in self.certificates if c.thumbprint == wanted), None)


SIGNING_FIELDS = (
    "id,displayName,preferredTokenSigningKeyThumbprint,keyCredentials,passwordCredentials"
)

_WRITE_PERMISSION_FIX = (
    "Use credentials holding Application.ReadWrite.All with admin consent (the deployer "
    "secret's app registration does), or sign in as an Entra admin with --entra-credentials cli."
)


class HttpGraphWriter(HttpGraphReader):
    """The reads of `HttpGraphReader` plus the few writes a certificate rotation makes."""

    def signing_certificates(self, app_id: str) -> SigningCertificates | None:
        data = self._get(
            f"/servicePrincipals(appId='{quote(app_id)}')",
            {"$select": SIGNING_FIELDS},
            "GET /servicePrincipals(appId=...)",
        )
        if data is None:
            return None
        keys = tuple(k for k in data.get("keyCredentials") or [] if isinstance(k, dict))
        passwords = tuple(p for p in data.get("passwordCredentials") or [] if isinstance(p, dict))
        # A certificate's Sign and Verify keys (and its password) share a customKeyIdentifier.
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for key in keys:
            identifier = str(key.get("customKeyIdentifier") or "")
            if identifier:
                groups.setdefault(identifier, []).append(key)
        found = (_signing_certificate(group, identifier) for identifier, group in groups.items())
        ordered = sorted((c for c in found if c is not None), key=lambda c: (c.start, c.thumbprint))
        active = data.get("preferredTokenSigningKeyThumbprint") or None
        return SigningCertificates(
            service_principal_id=str(data.get("id") or ""),
            display_name=str(data.get("displayName") or ""),
            active_thumbprint=str(active).upper() if active else None,
            certificates=tuple(ordered),
            key_credentials=keys,
            password_credentials=passwords,
        )

    def add_signing_certificate(self, sp_id: str, display_name: str, end: datetime) -> str:
        """A new, inactive certificate; its thumbprint. addTokenSigningCertificate exists in
        the global service only (its v1.0 page's national-cloud table): elsewhere the
        certificate is made here and uploaded."""
        if self._endpoints.cloud != "global":
            return self._upload_signing_certificate(sp_id, display_name, end)
        body = {"displayName": display_name, "endDateTime": _graph_instant(end)}
        answer = self._send(
            "POST",
            f"/servicePrincipals/{quote(sp_id)}/addTokenSigningCertificate",
            body,
            "POST /servicePrincipals/{id}/addTokenSigningCertificate",
        )
        thumbprint = str((answer or {}).get("thumbprint") or "").upper()
        if not thumbprint:
            raise EntraReadError(
                "Microsoft Graph addTokenSigningCertificate answered without a thumbprint",
                "Look at the enterprise application's SAML certificates in the Entra admin "
                "center; run the command again (it picks up a certificate it added).",
            )
        return thumbprint

    def _upload_signing_certificate(self, sp_id: str, display_name: str, end: datetime) -> str:
        """Make an RSA-2048 self-signed certificate and add it as Entra's custom signing key
        shows: a Sign key (the PKCS#12 with its password), a Verify key (the certificate) and
        the password, the Sign key and password sharing a keyId. PATCH replaces both
        collections, so the current entries are sent back as Graph returned them."""
        current = self._signing_state(sp_id)
        upload = _new_signing_upload(display_name, datetime.now(UTC), end)
        self._send(
            "PATCH",
            f"/servicePrincipals/{quote(sp_id)}",
            {
                "keyCredentials": [*map(dict, current[0]), *upload.key_credentials],
                "passwordCredentials": [*map(dict, current[1]), upload.password_credential],
            },
            "PATCH /servicePrincipals/{id} (keyCredentials, passwordCredentials)",
        )
        return upload.thumbprint

    def _signing_state(
        self, sp_id: str
    ) -> tuple[tuple[Mapping[str, Any], ...], tuple[Mapping[str, Any], ...]]:
        data = self._get(
            f"/servicePrincipals/{quote(sp_id)}",
            {"$select": "id,keyCredentials,passwordCredentials"},
            "GET /servicePrincipals/{id}",
        )
        if data is None:
            raise EntraReadError(
                f"the service principal {sp_id} is gone",
                "Check the stack outputs and that the credentials are for the right tenant.",
            )
        keys = tuple(k for k in data.get("keyCredentials") or [] if isinstance(k, dict))
        passwords = tuple(p for p in data.get("passwordCredentials") or [] if isinstance(p, dict))
        return keys, passwords

    def activate_signing_certificate(self, sp_id: str, thumbprint: str) -> None:
        """PATCH preferredTokenSigningKeyThumbprint: Entra signs with this one from now on."""
        self._send(
            "PATCH",
            f"/servicePrincipals/{quote(sp_id)}",
            {"preferredTokenSigningKeyThumbprint": thumbprint},
            "PATCH /servicePrincipals/{id} (preferredTokenSigningKeyThumbprint)",
        )

    def remove_signing_certificates(
        self, current: SigningCertificates, thumbprints: frozenset[str]
    ) -> None:
        """PATCH both credential collections without these certificates' entries.

        `removeKey` needs a proof signed with the certificate's private key, which Entra
        keeps to itself for SAML signing certificates; sending the collections without the
        old certificate's Sign/Verify keys and password is the way that works."""
        gone = {
            c.custom_key_identifier for c in current.certificates if c.thumbprint in thumbprints
        }
        kept_keys = [k for k in current.key_credentials if k.get("customKeyIdentifier") not in gone]
        # The password shares the Sign key's keyId (and, as seen, its customKeyIdentifier).
        gone_ids = {k.get("keyId") for k in current.key_credentials if k not in kept_keys}
        body = {
            "keyCredentials": [dict(k) for k in kept_keys],
            "passwordCredentials": [
                dict(p)
                for p in current.password_credentials
                if p.get("customKeyIdentifier") not in gone and p.get("keyId") not in gone_ids
            ],
        }
        self._send(
            "PATCH",
            f"/servicePrincipals/{quote(current.service_principal_id)}",
            body,
            "PATCH /servicePrincipals/{id} (keyCredentials, passwordCredentials)",
        )

    def _send(
        self, method: str, path: str, body: Mapping[str, Any], call: str
    ) -> dict[str, Any] | None:
        import httpx  # noqa: PLC0415

        headers = {
            "Authorization": f"Bearer {self._bearer()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = send_bounded(
                self._http, method, self._url(path), call, json=body, headers=headers
            )
        except httpx.HTTPError as error:
            raise EntraReadError(
                f"Microsoft Graph {call} failed: {error or type(error).__name__}",
                f"Check the network route to {self._endpoints.graph}, then run the command "
                "again: it carries on from what Entra shows.",
            ) from error
        if response.status_code >= 400:
            code, message = _graph_error(response)
            fix = (
                _WRITE_PERMISSION_FIX
                if response.status_code in (401, 403)
                else "Run the command again; if it persists, look the request id up in "
                "Entra's audit logs."
            )
            raise EntraReadError(
                f"Microsoft Graph {call} answered {response.status_code} {code}: {message}",
                fix,
                status=response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        answer: Any = response.json()
        return answer if isinstance(answer, dict) else None


def _signing_certificate(
    keys: list[Mapping[str, Any]], identifier: str
) -> SigningCertificate | None:
    """The certificate these keyCredentials (one customKeyIdentifier) belong to; None for
    keys that are not a certificate's.

    The thumbprint comes from the certificate itself (the Verify key's `key`, which Graph
    returns on a single object's $select), as the azuread provider derives it:
    customKeyIdentifier is free-form for an uploaded certificate (Microsoft's own example
    uses a SHA-256 of the thumbprint). Only when no certificate is shown does a 20-byte
    identifier stand for the SHA-1 thumbprint, as Entra sets it on the certificates that
    addTokenSigningCertificate makes."""
    verify = next(
        (k for k in keys if k.get("usage") == "Verify" and certificate_thumbprint(k.get("key"))),
        None,
    )
    dated = verify or next((k for k in keys if k.get("startDateTime")), keys[0])
    start, end = (
        _parse_graph_instant(dated.get("startDateTime")),
        _parse_graph_instant(dated.get("endDateTime")),
    )
    if start is None or end is None:
        return None
    if verify is not None:
        thumbprint = certificate_thumbprint(verify.get("key"))
    else:
        try:
            decoded = base64.b64decode(identifier, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        thumbprint = decoded.hex() if len(decoded) == 20 else ""
    if not thumbprint:
        return None
    return SigningCertificate(
        thumbprint=thumbprint.upper(),
        custom_key_identifier=identifier,
        display_name=str(dated.get("displayName") or ""),
        start=start,
        end=end,
    )


def certificate_thumbprint(raw: Any) -> str:
    """The SHA-1 thumbprint (upper-case hex) of a base64 DER certificate; "" when `raw` is not
    one."""
    if not isinstance(raw, str) or not raw:
        return ""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return ""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's id


@dataclass(frozen=True)
class _SigningUpload:
    thumbprint: str
    key_credentials: tuple[dict[str, Any], ...]
    password_credential: dict[str, Any] = field(repr=False)


def self_signed_certificate(
    common_name: str, not_before: datetime, not_after: datetime, *, end_entity: bool = False
) -> tuple[Any, Any]:
    """A new RSA-2048 key and a self-signed certificate for it: (key, certificate). With
    `end_entity`, the certificate says it is no CA (BasicConstraints ca=False, critical)."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if end_entity:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
    return key, builder.sign(key, hashes.SHA256())


def _new_signing_upload(display_name: str, now: datetime, end: datetime) -> _SigningUpload:
    """A new RSA-2048 key and self-signed certificate as servicePrincipal credentials."""
    import secrets  # noqa: PLC0415
    import uuid  # noqa: PLC0415

    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415

    start = now.astimezone(UTC).replace(microsecond=0)
    key, certificate = self_signed_certificate(
        display_name.removeprefix("CN="), start, end.astimezone(UTC).replace(microsecond=0)
    )
    password = secrets.token_urlsafe(24)
    pfx = pkcs12.serialize_key_and_certificates(
        None, key, certificate, None, serialization.BestAvailableEncryption(password.encode())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's id
    identifier = base64.b64encode(bytes.fromhex(thumbprint)).decode("ascii")
    sign_id = str(uuid.uuid4())
    dates = {
        "customKeyIdentifier": identifier,
        "startDateTime": _graph_instant(start),
        "endDateTime": _graph_instant(certificate.not_valid_after_utc),
    }
    return _SigningUpload(
        thumbprint=thumbprint,
        key_credentials=(
            {
                **dates,
                "displayName": display_name,
                "keyId": sign_id,
                "type": "X509CertAndPassword",
                "usage": "Sign",
                "key": base64.b64encode(pfx).decode("ascii"),
            },
            {
                **dates,
                "displayName": display_name,
                "keyId": str(uuid.uuid4()),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "key": base64.b64encode(der).decode("ascii"),
            },
        ),
        password_credential={**dates, "keyId": sign_id, "secretText": password},
    )


def _parse_graph_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _graph_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_writer(
    source: CredentialSource,
    endpoints: Endpoints,
    tenant_id: str,
    deployer: Callable[[], DeployerSecret],
) -> AbstractContextManager[HttpGraphWriter]:
    """A Graph reader-writer for one tenant (rotating signing certificates)."""
    return _open(
        HttpGraphWriter,
        ("rotating certificates needs httpx, which is not installed", "pip install httpx"),
        source=source,
        endpoints=endpoints,
        tenant_id=tenant_id,
        deployer=deployer,
    )
