"""The Graph port on msgraph-sdk and azure-identity: the only module that imports them.

The SDK is imported inside `open_graph`, not at module level, so that the service's tests
and the Delete/RetainOnDelete paths never pay its multi-second import.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import urlparse
from uuid import UUID

from entra_saml_app.certificates import UploadedCertificate
from entra_saml_app.credentials import Credentials
from entra_saml_app.errors import GraphError, redact
from entra_saml_app.service import (
    ApplicationPatch,
    ApplicationState,
    AppRole,
    AssignmentState,
    GraphPort,
    NewApplication,
    ServicePrincipalPatch,
    ServicePrincipalState,
    SigningKey,
)
from entra_saml_app.settings import Settings

if TYPE_CHECKING:
    from azure.identity import (
        CertificateCredential,
        ClientAssertionCredential,
        ClientSecretCredential,
    )
    from kiota_abstractions.base_request_builder import BaseRequestBuilder
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_abstractions.request_information import RequestInformation
    from kiota_abstractions.serialization import ParsableFactory
    from msgraph.graph_service_client import GraphServiceClient

T = TypeVar("T")

APPLICATION_FIELDS = [
    "id", "appId", "displayName", "tags", "notes", "identifierUris", "web", "createdDateTime",
    "groupMembershipClaims",
]  # fmt: skip
SERVICE_PRINCIPAL_FIELDS = [
    "id", "appId", "displayName", "preferredSingleSignOnMode", "appRoleAssignmentRequired",
    "notes", "preferredTokenSigningKeyThumbprint", "keyCredentials", "appRoles",
    "samlSingleSignOnSettings",
]  # fmt: skip
PAGE_SIZE = 999
# What a keyCredential or passwordCredential read back is sent again as (no key, no secret).
KEY_CREDENTIAL_FIELDS = (
    "customKeyIdentifier", "displayName", "endDateTime", "keyId", "startDateTime", "type", "usage",
)  # fmt: skip
PASSWORD_CREDENTIAL_FIELDS = (
    "customKeyIdentifier", "displayName", "endDateTime", "keyId", "startDateTime",
)  # fmt: skip
SHA1_BYTES = 20


class _Paged(Protocol):
    """A collection's request builder: `with_url` gives the builder of a next page."""

    def with_url(self, raw_url: str) -> Any: ...


@asynccontextmanager
async def open_graph(settings: Settings, credentials: Credentials) -> AsyncIterator[GraphPort]:
    """A Graph port for one invocation, closed with it."""
    import httpx  # noqa: PLC0415
    from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: PLC0415
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware.options import RetryHandlerOption  # noqa: PLC0415
    from msgraph.graph_request_adapter import GraphRequestAdapter  # noqa: PLC0415
    from msgraph.graph_request_adapter import options as sdk_options  # noqa: PLC0415
    from msgraph.graph_service_client import GraphServiceClient  # noqa: PLC0415
    from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]  # noqa: PLC0415

    credential = _credential(settings, credentials)
    http = httpx.AsyncClient(verify=settings.tls_verify(), timeout=settings.http_timeout_seconds)
    # retry.py is the only retry layer; the SDK's would re-send a committed POST.
    no_retry = RetryHandlerOption(max_retries=0, should_retry=False)
    options = {**sdk_options, RetryHandlerOption.get_key(): no_retry}
    try:
        auth = AzureIdentityAuthenticationProvider(
            credential,
            scopes=[settings.graph_scope],
            allowed_hosts=[urlparse(settings.graph_endpoint).hostname or ""],
        )
        transport = GraphClientFactory.create_with_default_middleware(client=http, options=options)
        adapter = GraphRequestAdapter(auth, transport)
        adapter.base_url = f"{settings.graph_endpoint}/v1.0"
        yield MsGraph(
            GraphServiceClient(request_adapter=adapter), settings.login_authority, credentials
        )
    finally:
        await http.aclose()
        credential.close()


def _credential(
    settings: Settings, credentials: Credentials
) -> ClientSecretCredential | CertificateCredential | ClientAssertionCredential:
    # The synchronous credentials: one short token request per invocation, and no aiohttp
    # session bound to the event loop. They honour REQUESTS_CA_BUNDLE through `requests`.
    from azure.identity import (  # noqa: PLC0415
        CertificateCredential,
        ClientAssertionCredential,
        ClientSecretCredential,
    )

    options: dict[str, Any] = {"authority": settings.login_authority}
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    if credentials.assertion is not None:
        # Calls the assertion (STS) for each token it requests; no instance discovery here.
        return ClientAssertionCredential(
            credentials.tenant_id, credentials.client_id, credentials.assertion, **options
        )
    if not settings.public_authority:
        options["disable_instance_discovery"] = True
    if credentials.client_secret:
        return ClientSecretCredential(
            credentials.tenant_id, credentials.client_id, credentials.client_secret, **options
        )
    pem = (credentials.certificate_pem or "").encode()
    return CertificateCredential(
        credentials.tenant_id, credentials.client_id, certificate_data=pem, **options
    )


class MsGraph:
    """GraphPort over a GraphServiceClient; every failure surfaces as GraphError.

    The request builders, the request adapter and its middleware are the SDK's; responses
    are read as JSON into the service's own small dataclasses. Deserialising into the SDK's
    models would cost more than the rest of a Create: the first entity read imports about
    1,200 model modules (`Entity.get_field_deserializers`). Request bodies are sent as JSON
    for the same reason, and because an explicit null needs no workaround that way.
    """

    def __init__(
        self, client: GraphServiceClient, login_authority: str, credentials: Credentials
    ) -> None:
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: PLC0415

        self._client = client
        self._errors: dict[str, type[ParsableFactory[Any]]] = {"XXX": ODataError}
        self._secrets = credentials.secret_values
        self._token_call = f"POST {login_authority}/{credentials.tenant_id}/oauth2/v2.0/token"

    # -- applications ----------------------------------------------------------------------

    async def instantiate(self, template_id: str, display_name: str) -> NewApplication:
        builder = self._client.application_templates.by_application_template_id(template_id)
        call = "POST /applicationTemplates/{id}/instantiate"
        request = _json_request("POST", builder.instantiate, {"displayName": display_name})
        made = await self._json(call, request) or {}
        app = made.get("application") or {}
        sp = made.get("servicePrincipal") or {}
        if not (app.get("id") and app.get("appId") and sp.get("id")):
            raise GraphError(502, "IncompleteResponse", "instantiate returned no ids", call=call)
        return NewApplication(
            app["id"], app["appId"], sp["id"], _application(app), _service_principal(sp)
        )

    async def list_applications(
        self,
        *,
        tag: str | None = None,
        display_name: str | None = None,
        identifier_uri: str | None = None,
    ) -> list[ApplicationState]:
        from msgraph.generated.applications.applications_request_builder import (  # noqa: PLC0415
            ApplicationsRequestBuilder,
        )

        query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=_application_filter(tag, display_name, identifier_uri),
            select=APPLICATION_FIELDS,
            top=PAGE_SIZE,
        )
        builder = self._client.applications
        request = builder.to_get_request_information(_configured(query))
        pages = self._pages("GET /applications?$filter=...", request, builder)
        return [_application(app) async for app in pages]

    async def get_application(self, object_id: str) -> ApplicationState:
        from msgraph.generated.applications.item.application_item_request_builder import (  # noqa: PLC0415
            ApplicationItemRequestBuilder,
        )

        query = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(
            select=APPLICATION_FIELDS
        )
        builder = self._client.applications.by_application_id(object_id)
        call = "GET /applications/{id}"
        app = await self._json(call, builder.to_get_request_information(_configured(query)))
        if not app:
            raise GraphError(404, "Request_ResourceNotFound", "empty response", call=call)
        return _application(app)

    async def update_application(self, object_id: str, patch: ApplicationPatch) -> None:
        builder = self._client.applications.by_application_id(object_id)
        request = _json_request("PATCH", builder, _application_body(patch))
        await self._json("PATCH /applications/{id}", request)

    async def delete_application(self, object_id: str) -> None:
        builder = self._client.applications.by_application_id(object_id)
        await self._json("DELETE /applications/{id}", builder.to_delete_request_information())

    async def list_deleted_applications(self, identifier_uri: str) -> list[ApplicationState]:
        # Filtered here: Graph's support for $filter on deleted items varies by property.
        from msgraph.generated.directory.deleted_items.graph_application.graph_application_request_builder import (  # noqa: E501, PLC0415
            GraphApplicationRequestBuilder,
        )

        query = GraphApplicationRequestBuilder.GraphApplicationRequestBuilderGetQueryParameters(
            select=["id", "appId", "displayName", "tags", "identifierUris"], top=PAGE_SIZE
        )
        builder = self._client.directory.deleted_items.graph_application
        request = builder.to_get_request_information(_configured(query))
        call = "GET /directory/deletedItems/microsoft.graph.application"
        wanted = identifier_uri.casefold()
        apps = [_application(app) async for app in self._pages(call, request, builder)]
        return [a for a in apps if wanted in {u.casefold() for u in a.identifier_uris}]

    async def purge_deleted_application(self, object_id: str) -> None:
        builder = self._client.directory.deleted_items.by_directory_object_id(object_id)
        request = builder.to_delete_request_information()
        await self._json("DELETE /directory/deletedItems/{id}", request)

    # -- service principals ----------------------------------------------------------------

    async def get_service_principal(self, object_id: str) -> ServicePrincipalState:
        from msgraph.generated.service_principals.item.service_principal_item_request_builder import (  # noqa: E501, PLC0415
            ServicePrincipalItemRequestBuilder,
        )

        query = (
            ServicePrincipalItemRequestBuilder.ServicePrincipalItemRequestBuilderGetQueryParameters(
                select=SERVICE_PRINCIPAL_FIELDS
            )
        )
        builder = self._client.service_principals.by_service_principal_id(object_id)
        call = "GET /servicePrincipals/{id}"
        sp = await self._json(call, builder.to_get_request_information(_configured(query)))
        if not sp:
            raise GraphError(404, "Request_ResourceNotFound", "empty response", call=call)
        return _service_principal(sp)

    async def find_service_principal(self, app_id: str) -> ServicePrincipalState | None:
        from msgraph.generated.service_principals.service_principals_request_builder import (  # noqa: PLC0415
            ServicePrincipalsRequestBuilder,
        )

        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq {_literal(app_id)}", select=SERVICE_PRINCIPAL_FIELDS
        )
        builder = self._client.service_principals
        call = "GET /servicePrincipals?$filter=appId eq ..."
        page = await self._json(call, builder.to_get_request_information(_configured(query)))
        found = (page or {}).get("value") or []
        return _service_principal(found[0]) if found else None

    async def update_service_principal(self, object_id: str, patch: ServicePrincipalPatch) -> None:
        builder = self._client.service_principals.by_service_principal_id(object_id)
        request = _json_request("PATCH", builder, _service_principal_body(patch))
        await self._json("PATCH /servicePrincipals/{id}", request)

    async def add_token_signing_certificate(
        self, service_principal_id: str, display_name: str, end: datetime
    ) -> SigningKey:
        builder = self._client.service_principals.by_service_principal_id(service_principal_id)
        body = {"displayName": display_name, "endDateTime": end.isoformat()}
        request = _json_request("POST", builder.add_token_signing_certificate, body)
        call = "POST /servicePrincipals/{id}/addTokenSigningCertificate"
        made = await self._json(call, request) or {}
        thumbprint, ends = made.get("thumbprint"), _datetime(made.get("endDateTime"))
        if not isinstance(thumbprint, str) or not thumbprint or ends is None:
            raise GraphError(502, "IncompleteResponse", "no thumbprint returned", call=call)
        return SigningKey(thumbprint.upper(), ends)

    async def upload_signing_certificate(
        self, service_principal_id: str, certificate: UploadedCertificate
    ) -> SigningKey:
        """The documented servicePrincipal update that adds a custom signing key: the PFX as a
        Sign key, the certificate as a Verify key, the PFX password as a passwordCredential
        with the Sign key's keyId. keyCredentials and passwordCredentials are replaced
        whole, so the credentials already there are sent back by keyId (without `key`, as
        the azuread provider sends them), and a re-send after a lost answer adds nothing twice.
        """
        from msgraph.generated.service_principals.item.service_principal_item_request_builder import (  # noqa: E501, PLC0415
            ServicePrincipalItemRequestBuilder,
        )

        query = (
            ServicePrincipalItemRequestBuilder.ServicePrincipalItemRequestBuilderGetQueryParameters(
                select=["keyCredentials", "passwordCredentials"]
            )
        )
        builder = self._client.service_principals.by_service_principal_id(service_principal_id)
        read = builder.to_get_request_information(_configured(query))
        current = await self._json("GET /servicePrincipals/{id}", read) or {}
        ours = {certificate.sign_key_id, certificate.verify_key_id}
        keys = [
            {name: c.get(name) for name in KEY_CREDENTIAL_FIELDS}
            for c in current.get("keyCredentials") or []
            if c.get("keyId") not in ours
        ]
        passwords = [
            {name: c.get(name) for name in PASSWORD_CREDENTIAL_FIELDS}
            for c in current.get("passwordCredentials") or []
            if c.get("keyId") not in ours
        ]
        body = {
            "keyCredentials": [*keys, *_uploaded_keys(certificate)],
            "passwordCredentials": [*passwords, _uploaded_password(certificate)],
        }
        request = _json_request("PATCH", builder, body)
        await self._json("PATCH /servicePrincipals/{id}", request)
        return SigningKey(certificate.thumbprint, certificate.end)

    # -- assignments -----------------------------------------------------------------------

    async def list_assignments(self, service_principal_id: str) -> list[AssignmentState]:
        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to
        call = "GET /servicePrincipals/{id}/appRoleAssignedTo"
        pages = self._pages(call, builder.to_get_request_information(), builder)
        return [
            AssignmentState(str(a["id"]), str(a["principalId"]).lower(), str(a.get("appRoleId")))
            async for a in pages
            if a.get("id") and a.get("principalId")
        ]

    async def assign(self, service_principal_id: str, principal_id: str, app_role_id: str) -> None:
        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to
        body = {
            "principalId": str(UUID(principal_id)),
            "resourceId": str(UUID(service_principal_id)),
            "appRoleId": str(UUID(app_role_id)),
        }
        request = _json_request("POST", builder, body)
        await self._json("POST /servicePrincipals/{id}/appRoleAssignedTo", request)

    async def unassign(self, service_principal_id: str, assignment_id: str) -> None:
        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to.by_app_role_assignment_id(assignment_id)
        call = "DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}"
        await self._json(call, builder.to_delete_request_information())

    # -- sending ---------------------------------------------------------------------------

    async def _json(self, call: str, request: RequestInformation) -> Any:
        """The response's JSON (None for an empty body), errors mapped as the SDK maps them."""
        # Typed with an unbound TypeVar upstream; "bytes" makes it the raw body.
        send = cast(
            "Callable[..., Awaitable[bytes | None]]",
            self._client.request_adapter.send_primitive_async,
        )
        raw = await self._send(call, send(request, "bytes", self._errors))
        return json.loads(raw) if raw else None

    async def _pages(
        self, call: str, request: RequestInformation, builder: _Paged
    ) -> AsyncIterator[dict[str, Any]]:
        """The items of a collection, following @odata.nextLink."""
        page: Any = await self._json(call, request)
        while page:
            for item in page.get("value") or []:
                yield item
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            # kiota gives a token only to the Graph host, but would still send the request.
            if not _same_origin(str(next_link), self._client.request_adapter.base_url):
                host = urlparse(str(next_link)).hostname
                message = f"@odata.nextLink points at {host!r}, not at Graph: not followed"
                raise GraphError(400, "UntrustedNextLink", message, call=call)
            page = await self._json(call, builder.with_url(next_link).to_get_request_information())

    async def _send(self, call: str, request: Awaitable[T]) -> T:
        from azure.core.exceptions import (  # noqa: PLC0415
            ClientAuthenticationError,
            ServiceRequestError,
        )
        from httpx import TransportError  # noqa: PLC0415
        from kiota_abstractions.api_error import APIError  # noqa: PLC0415

        try:
            return await request
        except APIError as exc:
            raise _api_error(call, exc) from exc
        except TransportError as exc:
            raise GraphError(None, type(exc).__name__, "", call=call) from exc
        except ClientAuthenticationError as exc:
            message = redact(str(exc.message), *self._secrets)
            raise GraphError(401, "TokenRequestFailed", message, call=self._token_call) from exc
        except ServiceRequestError as exc:
            raise GraphError(None, type(exc).__name__, "", call=self._token_call) from exc


def _same_origin(url: str, base: str) -> bool:
    """Whether `url` has the scheme, host and port of `base` (and no user info)."""
    try:
        a, b = urlparse(url), urlparse(base)
        return (a.scheme, a.hostname, a.port, a.username) == (b.scheme, b.hostname, b.port, None)
    except ValueError:
        return False


def _api_error(call: str, exc: Any) -> GraphError:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: PLC0415

    code, message = "UnknownError", str(exc.message or "")
    if isinstance(exc, ODataError) and exc.error is not None:
        code = exc.error.code or code
        message = exc.error.message or message
    headers = exc.response_headers or {}
    return GraphError(
        exc.response_status_code,
        code,
        message,
        call=call,
        retry_after=_retry_after(headers.get("Retry-After") or headers.get("retry-after")),
    )


def _retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _application_filter(
    tag: str | None, display_name: str | None, identifier_uri: str | None
) -> str:
    clauses = []
    if tag is not None:
        clauses.append(f"tags/any(t:t eq {_literal(tag)})")
    if display_name is not None:
        clauses.append(f"displayName eq {_literal(display_name)}")
    if identifier_uri is not None:
        clauses.append(f"identifierUris/any(u:u eq {_literal(identifier_uri)})")
    if len(clauses) != 1:
        raise ValueError("list_applications takes exactly one criterion")
    return clauses[0]


def _configured(query: Any) -> RequestConfiguration[Any]:
    from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
        RequestConfiguration,
    )

    return RequestConfiguration(query_parameters=query)


def _json_request(
    method: str, builder: BaseRequestBuilder, body: dict[str, Any]
) -> RequestInformation:
    """A request with a JSON body to the builder's URL, as its own `to_*_request_information`
    would make it, minus the SDK model the body would have to be built from."""
    from kiota_abstractions.method import Method  # noqa: PLC0415
    from kiota_abstractions.request_information import RequestInformation  # noqa: PLC0415

    request = RequestInformation(Method(method), builder.url_template, builder.path_parameters)
    request.headers.try_add("Accept", "application/json")
    request.set_stream_content(json.dumps(body).encode(), "application/json")
    return request


def _datetime(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _application(app: dict[str, Any]) -> ApplicationState:
    web = app.get("web") or {}
    return ApplicationState(
        object_id=app.get("id") or "",
        app_id=app.get("appId") or "",
        display_name=app.get("displayName") or "",
        tags=tuple(app.get("tags") or ()),
        notes=app.get("notes"),
        identifier_uris=tuple(app.get("identifierUris") or ()),
        redirect_uris=tuple(web.get("redirectUris") or ()),
        logout_url=web.get("logoutUrl"),
        created=_datetime(app.get("createdDateTime")),
        group_membership_claims=app.get("groupMembershipClaims"),
    )


def _service_principal(sp: dict[str, Any]) -> ServicePrincipalState:
    keys = {key.thumbprint: key for key in _signing_keys(sp.get("keyCredentials") or [])}
    roles = tuple(
        AppRole(
            role_id=str(role["id"]),
            display_name=role.get("displayName") or "",
            member_types=tuple(role.get("allowedMemberTypes") or ()),
            enabled=bool(role.get("isEnabled")),
        )
        for role in sp.get("appRoles") or []
        if role.get("id")
    )
    saml = sp.get("samlSingleSignOnSettings") or {}
    return ServicePrincipalState(
        object_id=sp.get("id") or "",
        app_id=sp.get("appId") or "",
        display_name=sp.get("displayName") or "",
        sso_mode=sp.get("preferredSingleSignOnMode"),
        assignment_required=bool(sp.get("appRoleAssignmentRequired")),
        notes=sp.get("notes"),
        preferred_thumbprint=sp.get("preferredTokenSigningKeyThumbprint"),
        signing_keys=tuple(keys.values()),
        app_roles=roles,
        relay_state=saml.get("relayState"),
    )


def _uploaded_keys(certificate: UploadedCertificate) -> list[dict[str, Any]]:
    common = {
        "customKeyIdentifier": certificate.custom_key_identifier,
        "displayName": certificate.display_name,
        "endDateTime": _graph_time(certificate.end),
        "startDateTime": _graph_time(certificate.start),
    }
    return [
        {
            **common,
            "keyId": certificate.sign_key_id,
            "type": "X509CertAndPassword",
            "usage": "Sign",
            "key": base64.b64encode(certificate.pfx).decode("ascii"),
        },
        {
            **common,
            "keyId": certificate.verify_key_id,
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": base64.b64encode(certificate.certificate_der).decode("ascii"),
        },
    ]


def _uploaded_password(certificate: UploadedCertificate) -> dict[str, Any]:
    return {
        "customKeyIdentifier": certificate.custom_key_identifier,
        "keyId": certificate.sign_key_id,
        "endDateTime": _graph_time(certificate.end),
        "startDateTime": _graph_time(certificate.start),
        "secretText": certificate.password,
    }


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signing_keys(credentials: list[dict[str, Any]]) -> list[SigningKey]:
    """The signing certificates among keyCredentials, each named by its thumbprint.

    The thumbprint is the SHA-1 of the Verify key's certificate (`key`), as the azuread
    provider derives it: Graph returns `key` only on a single object's
    `$select=keyCredentials`, and an uploaded certificate's customKeyIdentifier is
    free-form. Without `key`, a customKeyIdentifier that decodes to 20 bytes is taken for
    the thumbprint (addTokenSigningCertificate sets it so); any other key is left out.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for credential in credentials:
        groups.setdefault(str(credential.get("customKeyIdentifier") or ""), []).append(credential)
    found: list[SigningKey] = []
    for identifier, group in groups.items():
        end = min(filter(None, (_datetime(c.get("endDateTime")) for c in group)), default=None)
        certificates = [
            _certificate_thumbprint(c.get("key"))
            for c in group
            if c.get("usage") == "Verify" and c.get("key")
        ]
        thumbprint = next(filter(None, certificates), None) or _thumbprint_identifier(identifier)
        if thumbprint and end:
            found.append(SigningKey(thumbprint, end))
    return found


def _certificate_thumbprint(key: object) -> str | None:
    try:
        der = base64.b64decode(str(key), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not der.startswith(b"\x30"):  # a DER SEQUENCE, not some other blob
        return None
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _thumbprint_identifier(identifier: str) -> str | None:
    try:
        raw = base64.b64decode(identifier, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex().upper() if len(raw) == SHA1_BYTES else None


def _application_body(patch: ApplicationPatch) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "display_name" in patch:
        body["displayName"] = patch["display_name"]
    if "tags" in patch:
        body["tags"] = list(patch["tags"])
    if "notes" in patch:
        body["notes"] = patch["notes"]
    if "identifier_uris" in patch:
        body["identifierUris"] = list(patch["identifier_uris"])
    if "web" in patch:
        web = patch["web"]
        body["web"] = {"redirectUris": list(web["redirect_uris"]), "logoutUrl": web["logout_url"]}
    if "group_membership_claims" in patch:
        body["groupMembershipClaims"] = patch["group_membership_claims"]
    return body


def _service_principal_body(patch: ServicePrincipalPatch) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if "display_name" in patch:
        body["displayName"] = patch["display_name"]
    if "preferred_single_sign_on_mode" in patch:
        body["preferredSingleSignOnMode"] = patch["preferred_single_sign_on_mode"]
    if "app_role_assignment_required" in patch:
        body["appRoleAssignmentRequired"] = patch["app_role_assignment_required"]
    if "notes" in patch:
        body["notes"] = patch["notes"]
    if "preferred_token_signing_key_thumbprint" in patch:
        body["preferredTokenSigningKeyThumbprint"] = patch["preferred_token_signing_key_thumbprint"]
    if "relay_state" in patch:
        body["samlSingleSignOnSettings"] = {"relayState": patch["relay_state"]}
    return body
