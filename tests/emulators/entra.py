"""`EntraEmulator`: Microsoft Graph and the Entra token/metadata host on 127.0.0.1, strict like
the real services, with fault injection and inspection for tests."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import secrets
import shutil
import ssl
import tempfile
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ._authority import DEFAULT_ROLES, GRAPH_RESOURCE, TOKEN_LIFETIME, Authority
from ._directory import (
    CUSTOM_APP_TEMPLATE_ID,
    Clock,
    Directory,
    JsonDict,
    Principal,
    SigningCertificate,
    graph_time,
    new_id,
)
from ._graph import NON_GALLERY_TEMPLATE_IDS, GraphApi, store_certificate
from ._http import HttpRequest, HttpResponse, LocalServer, json_response
from ._pki import make_ca, make_self_signed_rsa, make_server_cert

Server = Literal["graph", "authority"]
# What an admin signed in with Azure CLI consents to for these calls, and the role ids of the
# directory roles that may grant Microsoft Graph's application permissions.
ADMIN_SCOPES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
_SECRET_FIELDS = ("client_secret", "client_assertion")

_DEFAULT_MESSAGES = {
    403: "Insufficient privileges to complete the operation.",
    409: "Another object with the same value for property already exists.",
    429: "Too many requests. Please retry after the number of seconds in Retry-After.",
    500: "An internal server error occurred.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The gateway timed out.",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it, with the status it answered."""

    server: Server
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    fault: str | None = None  # "injected", "dropped" or "slow" when a fault shaped the answer
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class SigningCertificateInfo:
    """A token signing certificate of a service principal, private key included, so tests can
    sign SAML responses the way Entra would."""

    thumbprint: str
    display_name: str
    cert_pem: bytes
    key_pem: bytes
    start: str
    end: str
    active: bool


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    remaining: int

    def matches(self, server: Server, request: HttpRequest) -> bool:
        del server
        method_ok = self.method == "*" or self.method.upper() == request.method
        return self.remaining > 0 and method_ok and bool(self.pattern.search(request.path))


@dataclass
class _Failure(_Rule):
    status: int = 500
    code: str = ""
    message: str = ""
    retry_after: int | None = None
    after_commit: bool = False


@dataclass
class _Slow(_Rule):
    seconds: float = 0.0


@dataclass
class _Drop(_Rule):
    after_commit: bool = False


class EntraEmulator:
    """Graph v1.0 (`graph_base_url`, plain http) and the Entra authority (`authority_url`,
    https with a test CA in `ca_bundle`) for one tenant and one deployer application
    (`tenant_id`, `client_id`, `client_secret`).

    Use as a context manager; servers run in background threads until exit::

        with EntraEmulator() as entra:
            entra.replication_lag(requests=2)
            credential = ClientSecretCredential(
                entra.tenant_id, entra.client_id, entra.client_secret,
                authority=entra.authority_url, disable_instance_discovery=True,
                connection_verify=str(entra.ca_bundle))
            client = GraphServiceClient(credential, ["https://graph.microsoft.com/.default"])
            client.request_adapter.base_url = entra.graph_base_url + "/v1.0"

    (`tests.emulators.clients` builds those.) Faults and inspection methods are
    thread-safe and can be called while requests are in flight."""

    template_id = CUSTOM_APP_TEMPLATE_ID

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        domain: str = "contoso.onmicrosoft.com",
        roles: Sequence[str] = DEFAULT_ROLES,
        cloud: str = "global",
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        self.client_secret = "emu~" + secrets.token_urlsafe(30)
        self.clock = Clock()
        self._directory = Directory(tenant_id=self.tenant_id, domain=domain, clock=self.clock)
        self._authority = Authority(self._directory, self.client_id, self.client_secret)
        self._authority.roles = tuple(roles)
        self._directory.deployer_application = {
            "id": self._authority.deployer_object_id,
            "appId": self.client_id,
            "displayName": "deployer",
            "federatedIdentityCredentials": [],
        }
        self._graph = GraphApi(self._directory, self._authority.validate_graph_token)
        # The Microsoft cloud Graph behaves as: its non-gallery template, and no
        # addTokenSigningCertificate outside the global service.
        self.cloud = cloud
        self._graph.cloud = cloud
        self.template_id = NON_GALLERY_TEMPLATE_IDS[cloud]
        self.microsoft_graph_sp_id: str = self._directory.seed_microsoft_graph().data["id"]
        self._lock = self._directory.lock
        self._failures: list[_Failure] = []
        self._slows: list[_Slow] = []
        self._drops: list[_Drop] = []
        self._recorded: list[RecordedRequest] = []
        self._in_flight = 0
        self.internal_errors: list[str] = []
        self._tmp: Path | None = None
        self._servers: list[LocalServer] = []
        self.graph_base_url = ""
        self.authority_url = ""
        self.ca_bundle = Path()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> EntraEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.internal_errors:
            raise AssertionError("emulator bug:\n" + "\n".join(self.internal_errors))

    def start(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="entra-emulator-"))
        # Real time, not the test clock: TLS clients check validity against the real one.
        now = dt.datetime.now(dt.UTC)
        ca = make_ca(now)
        server_cert = make_server_cert(ca, now)
        self.ca_bundle = self._tmp / "ca.pem"
        self.ca_bundle.write_bytes(ca.cert_pem)
        (self._tmp / "server.pem").write_bytes(server_cert.cert_pem + ca.cert_pem)
        (self._tmp / "server.key").write_bytes(server_cert.key_pem)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self._tmp / "server.pem", self._tmp / "server.key")
        self.server_tls = tls  # for other loopback emulators whose clients trust ca_bundle
        graph = LocalServer(lambda request: self._dispatch("graph", request))
        authority = LocalServer(lambda request: self._dispatch("authority", request), tls)
        self._servers = [graph, authority]
        self.graph_base_url = graph.url
        self.authority_url = authority.url
        self._authority.url = authority.url
        for server in self._servers:
            server.start()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers = []
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- addresses ---------------------------------------------------------------------------

    def metadata_url(self, app_id: str) -> str:
        """The app federation metadata URL, as Entra publishes it for `app_id`."""
        return (
            f"{self.authority_url}/{self.tenant_id}/federationmetadata/2007-06/"
            f"federationmetadata.xml?appid={app_id}"
        )

    # -- identities --------------------------------------------------------------------------

    def register_certificate(self, pem_cert: bytes | str) -> str:
        """Accept client assertions signed with this certificate's key; returns its thumbprint."""
        return self._authority.register_certificate(pem_cert)

    def serve_deployer(self, app_id: str) -> None:
        """Make the app registration `app_id` (one made through Graph, e.g. by
        `mobile-sso bootstrap-entra`) the client the token endpoint serves, in place of the
        built-in deployer. Its tokens carry the emulator's Graph roles (`set_roles`): admin
        consent is recorded by Graph but not re-derived into tokens."""
        with self._lock:
            self.client_id = app_id
            self._authority.client_id = app_id

    def add_federated_credential(
        self,
        *,
        issuer: str,
        subject: str,
        audiences: Sequence[str] = ("api://AzureADTokenExchange",),
        name: str = "aws-entra-handler",
        description: str | None = None,
    ) -> JsonDict:
        """A federated identity credential on the deployer app registration, as an admin
        adds it (Certificates & secrets > Federated credentials); returns a copy."""
        record: JsonDict = {
            "id": new_id(),
            "name": name,
            "issuer": issuer,
            "subject": subject,
            "audiences": list(audiences),
            "description": description,
        }
        with self._lock:
            self._directory.federated_identity_credentials(self.client_id).append(record)
            self._authority.federated_born[record["id"]] = time.monotonic()
        return copy.deepcopy(record)

    def federated_credentials(self) -> list[JsonDict]:
        """The deployer app registration's federated identity credentials."""
        with self._lock:
            return copy.deepcopy(self._directory.federated_identity_credentials(self.client_id))

    def set_roles(self, roles: Sequence[str]) -> None:
        """The application permissions carried by tokens issued from now on."""
        self._authority.roles = tuple(roles)

    def issue_access_token(
        self,
        *,
        audience: str = GRAPH_RESOURCE,
        lifetime_seconds: float = TOKEN_LIFETIME.total_seconds(),
        roles: Sequence[str] | None = None,
    ) -> str:
        """A token as the token endpoint would issue it, for tests of Graph's token checks."""
        return self._authority.issue_token(
            audience=audience,
            lifetime=dt.timedelta(seconds=lifetime_seconds),
            roles=None if roles is None else tuple(roles),
        )

    def issue_admin_token(
        self,
        *,
        scopes: Sequence[str] = ADMIN_SCOPES,
        directory_roles: Sequence[str] = (GLOBAL_ADMINISTRATOR,),
        user_principal_name: str | None = None,
    ) -> str:
        """A delegated token for a signed-in administrator, as `az account get-access-token`
        or a device-code sign-in returns it: `scp` = `scopes`, `wids` = `directory_roles`
        (role template ids; Global Administrator by default)."""
        upn = user_principal_name or f"admin@{self._directory.domain}"
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, upn))
        issuer = f"https://sts.windows.net/{self.tenant_id}/"
        now = int(time.time())
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(TOKEN_LIFETIME.total_seconds()),
            "app_displayname": "Microsoft Azure CLI",
            "appid": AZURE_CLI_APP_ID,
            "appidacr": "0",  # a public client
            "idp": issuer,
            "idtyp": "user",
            "oid": user_id,
            "scp": " ".join(scopes),
            "sub": user_id,
            "tid": self.tenant_id,
            "upn": upn,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
            "wids": list(directory_roles),
        }
        # Signed with the authority's token key, so Graph accepts it like any token it issued.
        return jwt.encode(
            claims,
            self._authority._signing_key,
            algorithm="RS256",
            headers={"kid": self._authority.key_id},
        )

    def add_user(
        self,
        display_name: str = "Test User",
        user_principal_name: str | None = None,
        *,
        has_mail: bool = True,
    ) -> str:
        """A user app roles can be assigned to; returns its object id. `has_mail=False`
        leaves `mail` empty, as for an account without a mailbox."""
        object_id = new_id()
        upn = user_principal_name or f"user{object_id[:8]}@{self._directory.domain}"
        data = {
            "id": object_id,
            "displayName": display_name,
            "userPrincipalName": upn,
            "mail": upn if has_mail else None,
            "accountEnabled": True,
        }
        with self._lock:
            self._directory.principals[object_id] = Principal("User", data)
        return object_id

    def add_group(self, display_name: str = "Test Group", *, members: Sequence[str] = ()) -> str:
        """A security group app roles can be assigned to, with these direct members (user or
        group ids); returns its object id."""
        object_id = new_id()
        data: JsonDict = {
            "id": object_id,
            "displayName": display_name,
            "mail": None,
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
        }
        with self._lock:
            self._directory.principals[object_id] = Principal("Group", data)
            self._directory.group_members[object_id] = [m.lower() for m in members]
        return object_id

    # -- seeding -----------------------------------------------------------------------------

    def add_application(
        self,
        display_name: str,
        *,
        tags: Sequence[str] = (),
        notes: str | None = None,
        identifier_uris: Sequence[str] = (),
    ) -> JsonDict:
        """A live app + service principal as instantiate makes them (no replication lag), for
        tests that start from an existing or half-made application. Returns
        `{"application": ..., "servicePrincipal": ...}` copies."""
        with self._lock:
            application, service_principal = self._directory.instantiate(display_name, lag=False)
            application.update(tags=list(tags), notes=notes, identifierUris=list(identifier_uris))
            self._directory.sync_service_principal(application)
            return copy.deepcopy(
                {"application": application, "servicePrincipal": service_principal}
            )

    def add_soft_deleted_application(
        self,
        identifier_uri: str | None = None,
        *,
        display_name: str = "Deleted SAML app",
        tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> str:
        """An application in the recycle bin (still holding `identifier_uri`); returns its
        object id."""
        uris = [identifier_uri] if identifier_uri else []
        application = self.add_application(
            display_name, tags=tags, notes=notes, identifier_uris=uris
        )["application"]
        with self._lock:
            self._directory.soft_delete_application(application["id"])
        return str(application["id"])

    # -- fault injection ---------------------------------------------------------------------

    def replication_lag(
        self, requests: int = 0, *, seconds: float = 0.0, lists: bool = False
    ) -> None:
        """Each object created from now on answers 404 Request_ResourceNotFound to the first
        `requests` requests addressed to it by id, and/or to every request by id until
        `seconds` (real time, time.monotonic(), not `clock`) after its creation. With
        `lists=True` collection queries leave it out too until then. `requests=0` and
        `seconds=0` turn the lag off for new objects."""
        with self._lock:
            self._directory.replication_lag_requests = requests
            self._directory.replication_lag_seconds = seconds
            self._directory.replication_lag_lists = lists

    def metadata_lag(self, fetches: int = 0, *, seconds: float = 0.0) -> None:
        """After a signing certificate is activated from now on, the metadata URL keeps serving
        the previously active one (or the tenant's default one) for `fetches` fetches, or,
        with `seconds`, until that many seconds (real time) after the activation."""
        with self._lock:
            self._directory.metadata_lag_fetches = fetches
            self._directory.metadata_lag_seconds = seconds

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        code: str,
        message: str = "",
        *,
        times: int = 1,
        retry_after: int | None = None,
        after_commit: bool = False,
    ) -> None:
        """Answer the next `times` requests whose method matches (`"*"` for any) and whose path
        matches `path_regex` (re.search, on either server) with this error. With
        `after_commit=True` the operation is carried out first, then the error is answered."""
        with self._lock:
            self._failures.append(
                _Failure(
                    method,
                    re.compile(path_regex),
                    times,
                    status=status,
                    code=code,
                    message=message or _DEFAULT_MESSAGES.get(status, "Error."),
                    retry_after=retry_after,
                    after_commit=after_commit,
                )
            )

    def lagging_keys(self, visibility: str) -> None:
        """Replica lag of signing keys added from now on: the requests to the service
        principal after a key is added see it or not in turn, "y" or "n" per request
        (GETs leave it out, a PATCH activating it answers 400); then they all see it."""
        if set(visibility) - {"y", "n"}:
            raise ValueError("visibility is a string of 'y' and 'n'")
        with self._lock:
            self._graph.key_visibility = visibility

    def federation_propagation(self, seconds: float) -> None:
        """Token requests presenting a federated assertion answer AADSTS70021 until the
        matching federated credential is `seconds` old (real time)."""
        with self._lock:
            self._authority.federation_propagation_seconds = seconds

    def upload_signing_certificate(
        self, sp_id: str, *, custom_key_identifier: str, activate: bool = False
    ) -> str:
        """A signing certificate an admin uploaded (Entra admin center > SAML certificates >
        Import), with the free-form customKeyIdentifier the upload allows; its thumbprint."""
        now = self.clock.now().replace(microsecond=0)
        issued = make_self_signed_rsa(
            x509.Name.from_rfc4514_string("CN=Imported by an admin"),
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=365),
        )
        cert = SigningCertificate(
            issued=issued,
            display_name="CN=Imported by an admin",
            verify_key_id=new_id(),
            sign_key_id=new_id(),
            start=now - dt.timedelta(days=1),
            end=now + dt.timedelta(days=365),
            uploaded_identifier=custom_key_identifier,
        )
        with self._lock:
            record = self._directory.service_principals[sp_id]
            store_certificate(record, cert)
            if activate:
                record.data["preferredTokenSigningKeyThumbprint"] = cert.thumbprint
        return cert.thumbprint

    def slow_next(self, method: str, path_regex: str, seconds: float, times: int = 1) -> None:
        """Hold the next matching requests for `seconds` before carrying them out and answering
        (a client timeout then leaves an operation that still happened)."""
        with self._lock:
            self._slows.append(_Slow(method, re.compile(path_regex), times, seconds=seconds))

    def drop_next(
        self, method: str, path_regex: str, times: int = 1, after_commit: bool = False
    ) -> None:
        """Close the connection without answering the next matching requests; with
        `after_commit=True` after carrying them out."""
        with self._lock:
            self._drops.append(
                _Drop(method, re.compile(path_regex), times, after_commit=after_commit)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._failures.clear()
            self._slows.clear()
            self._drops.clear()
            self._directory.replication_lag_requests = 0
            self._directory.replication_lag_seconds = 0.0
            self._directory.replication_lag_lists = False
            self._directory.lagging.clear()
            self._directory.lagging_until.clear()
            self._directory.hidden_from_lists.clear()
            self._directory.metadata_lag_fetches = 0
            self._directory.metadata_lag_seconds = 0.0
            self._graph.key_visibility = ""
            self._authority.federation_propagation_seconds = 0.0

    # -- inspection --------------------------------------------------------------------------

    def applications(self) -> list[JsonDict]:
        with self._lock:
            return copy.deepcopy(list(self._directory.applications.values()))

    def service_principals(self) -> list[JsonDict]:
        """The tenant's own service principals (not Microsoft's, such as Microsoft Graph)."""
        with self._lock:
            return copy.deepcopy(
                [r.data for r in self._directory.service_principals.values() if not r.first_party]
            )

    def granted_app_roles(self, sp_id: str) -> list[JsonDict]:
        """App role assignments whose principal is the service principal `sp_id` (e.g. the
        Microsoft Graph application permissions granted to it by admin consent)."""
        with self._lock:
            return copy.deepcopy(
                [
                    assignment
                    for record in self._directory.service_principals.values()
                    for assignment in record.assignments.values()
                    if assignment["principalId"] == sp_id
                ]
            )

    def deleted_applications(self) -> list[JsonDict]:
        with self._lock:
            return copy.deepcopy(list(self._directory.deleted_applications.values()))

    def assignments(self, sp_id: str) -> list[JsonDict]:
        with self._lock:
            record = self._directory.service_principals.get(sp_id)
            return copy.deepcopy(list(record.assignments.values())) if record else []

    def signing_certificates(self, sp_id: str) -> list[SigningCertificateInfo]:
        with self._lock:
            record = self._directory.service_principals[sp_id]
            active = record.data.get("preferredTokenSigningKeyThumbprint")
            return [
                SigningCertificateInfo(
                    thumbprint=cert.thumbprint,
                    display_name=cert.display_name,
                    cert_pem=cert.issued.cert_pem,
                    key_pem=cert.issued.key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ),
                    start=graph_time(cert.start),
                    end=graph_time(cert.end),
                    active=cert.thumbprint == active,
                )
                for cert in record.certificates
            ]

    def requests(self, server: Server | Literal["all"] = "graph") -> list[RecordedRequest]:
        """Requests answered so far, oldest first (Graph's only, unless `server` says)."""
        with self._lock:
            return [r for r in self._recorded if server in ("all", r.server)]

    def in_flight(self) -> int:
        """Requests received and not yet answered (e.g. held by `slow_next` after the client
        gave up on them): 0 once every late operation has landed."""
        with self._lock:
            return self._in_flight

    def clear_requests(self) -> None:
        with self._lock:
            self._recorded.clear()

    # -- dispatch ----------------------------------------------------------------------------

    def _take(self, rules: Sequence[_Rule], server: Server, request: HttpRequest) -> Any:
        with self._lock:
            for rule in rules:
                if rule.matches(server, request):
                    rule.remaining -= 1
                    return rule
        return None

    def _service(self, server: Server, request: HttpRequest) -> HttpResponse:
        try:
            if server == "graph":
                return self._graph.handle(request)
            return self._authority.handle(request)
        except Exception:  # an emulator bug: answer 500 and fail the test on exit
            detail = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(detail)
            return json_response(
                500, {"error": {"code": "EmulatorBug", "message": detail.splitlines()[-1]}}
            )

    def _dispatch(self, server: Server, request: HttpRequest) -> HttpResponse | None:
        with self._lock:
            self._in_flight += 1
        try:
            return self._answer(server, request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, server: Server, request: HttpRequest) -> HttpResponse | None:
        fault: str | None = None
        slow: _Slow | None = self._take(self._slows, server, request)
        if slow is not None:
            time.sleep(slow.seconds)
            fault = "slow"
        drop: _Drop | None = self._take(self._drops, server, request)
        failure: _Failure | None = self._take(self._failures, server, request)
        response: HttpResponse | None
        if drop is not None:
            if drop.after_commit:
                self._service(server, request)
            response, fault = None, "dropped"
        elif failure is not None:
            if failure.after_commit:
                self._service(server, request)
            response, fault = _failure_response(server, failure), "injected"
        else:
            response = self._service(server, request)
        self._record(server, request, response, fault)
        return response

    def _record(
        self,
        server: Server,
        request: HttpRequest,
        response: HttpResponse | None,
        fault: str | None,
    ) -> None:
        body: Any = None
        form: dict[str, str] | None = None
        content_type = request.header("content-type") or ""
        if request.body and "json" in content_type:
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
        elif request.body and "form" in content_type:
            form = {
                key: ("***" if key in _SECRET_FIELDS else value)
                for key, value in parse_qsl(request.body.decode("utf-8", "replace"))
            }
        headers = {
            key: ("***" if key == "authorization" else value)
            for key, value in request.headers.items()
        }
        record = RecordedRequest(
            server=server,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=body,
            status=response.status if response is not None else 0,
            fault=fault,
            headers=headers,
            form=form,
        )
        with self._lock:
            self._recorded.append(record)


def _failure_response(server: Server, failure: _Failure) -> HttpResponse:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(int(failure.retry_after))
    if server == "authority":
        body = {"error": failure.code, "error_description": failure.message}
        return HttpResponse(
            failure.status,
            json.dumps(body).encode(),
            {"Content-Type": "application/json; charset=utf-8", **headers},
        )
    request_id = str(uuid.uuid4())
    error = {
        "code": failure.code,
        "message": failure.message,
        "innerError": {
            "date": graph_time(dt.datetime.now(dt.UTC)),
            "request-id": request_id,
            "client-request-id": request_id,
        },
    }
    return json_response(failure.status, {"error": error}, {"request-id": request_id, **headers})
