"""The Graph port on msgraph-sdk and azure-identity: the only module that imports them.

The SDK is imported inside `open_graph`, not at module level, so that the service's tests
and the Delete/RetainOnDelete paths never pay its multi-second import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse
from uuid import UUID

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
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.service_principal import ServicePrincipal
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
    """GraphPort over a GraphServiceClient; every failure surfaces as GraphError."""

    def __init__(
        self, client: GraphServiceClient, login_authority: str, credentials: Credentials
    ) -> None:
        self._client = client
        self._secrets = credentials.secret_values
        self._token_call = f"POST {login_authority}/{credentials.tenant_id}/oauth2/v2.0/token"

    # -- applications ----------------------------------------------------------------------

    async def instantiate(self, template_id: str, display_name: str) -> NewApplication:
        from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (  # noqa: E501, PLC0415
            InstantiatePostRequestBody,
        )

        builder = self._client.application_templates.by_application_template_id(template_id)
        body = InstantiatePostRequestBody(display_name=display_name)
        call = "POST /applicationTemplates/{id}/instantiate"
        made = await self._send(call, builder.instantiate.post(body))
        app = made.application if made else None
        sp = made.service_principal if made else None
        if app is None or sp is None or not (app.id and app.app_id and sp.id):
            raise GraphError(502, "IncompleteResponse", "instantiate returned no ids", call=call)
        return NewApplication(app.id, app.app_id, sp.id)

    async def list_applications(
        self,
        *,
        tag: str | None = None,
        display_name: str | None = None,
        identifier_uri: str | None = None,
    ) -> list[ApplicationState]:
        from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
            RequestConfiguration,
        )
        from msgraph.generated.applications.applications_request_builder import (  # noqa: PLC0415
            ApplicationsRequestBuilder,
        )

        query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=_application_filter(tag, display_name, identifier_uri),
            select=APPLICATION_FIELDS,
            top=PAGE_SIZE,
        )
        builder = self._client.applications
        call = "GET /applications?$filter=..."
        page = await self._send(call, builder.get(RequestConfiguration(query_parameters=query)))
        found: list[ApplicationState] = []
        while page is not None:
            found.extend(_application(app) for app in page.value or [])
            next_link = page.odata_next_link
            page = await self._send(call, builder.with_url(next_link).get()) if next_link else None
        return found

    async def get_application(self, object_id: str) -> ApplicationState:
        from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
            RequestConfiguration,
        )
        from msgraph.generated.applications.item.application_item_request_builder import (  # noqa: PLC0415
            ApplicationItemRequestBuilder,
        )

        query = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(
            select=APPLICATION_FIELDS
        )
        builder = self._client.applications.by_application_id(object_id)
        call = "GET /applications/{id}"
        app = await self._send(call, builder.get(RequestConfiguration(query_parameters=query)))
        if app is None:
            raise GraphError(404, "Request_ResourceNotFound", "empty response", call=call)
        return _application(app)

    async def update_application(self, object_id: str, patch: ApplicationPatch) -> None:
        builder = self._client.applications.by_application_id(object_id)
        await self._send("PATCH /applications/{id}", builder.patch(_application_body(patch)))

    async def delete_application(self, object_id: str) -> None:
        builder = self._client.applications.by_application_id(object_id)
        await self._send("DELETE /applications/{id}", builder.delete())

    async def list_deleted_applications(self, identifier_uri: str) -> list[ApplicationState]:
        # Filtered here: Graph's support for $filter on deleted items varies by property.
        from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
            RequestConfiguration,
        )
        from msgraph.generated.directory.deleted_items.graph_application.graph_application_request_builder import (  # noqa: E501, PLC0415
            GraphApplicationRequestBuilder,
        )

        query = GraphApplicationRequestBuilder.GraphApplicationRequestBuilderGetQueryParameters(
            select=["id", "appId", "displayName", "tags", "identifierUris"], top=PAGE_SIZE
        )
        builder = self._client.directory.deleted_items.graph_application
        call = "GET /directory/deletedItems/microsoft.graph.application"
        page = await self._send(call, builder.get(RequestConfiguration(query_parameters=query)))
        wanted = identifier_uri.casefold()
        found: list[ApplicationState] = []
        while page is not None:
            apps = [_application(app) for app in page.value or []]
            found.extend(a for a in apps if wanted in {u.casefold() for u in a.identifier_uris})
            next_link = page.odata_next_link
            page = await self._send(call, builder.with_url(next_link).get()) if next_link else None
        return found

    async def purge_deleted_application(self, object_id: str) -> None:
        builder = self._client.directory.deleted_items.by_directory_object_id(object_id)
        await self._send("DELETE /directory/deletedItems/{id}", builder.delete())

    # -- service principals ----------------------------------------------------------------

    async def get_service_principal(self, object_id: str) -> ServicePrincipalState:
        from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
            RequestConfiguration,
        )
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
        sp = await self._send(call, builder.get(RequestConfiguration(query_parameters=query)))
        if sp is None:
            raise GraphError(404, "Request_ResourceNotFound", "empty response", call=call)
        return _service_principal(sp)

    async def find_service_principal(self, app_id: str) -> ServicePrincipalState | None:
        from kiota_abstractions.base_request_configuration import (  # noqa: PLC0415
            RequestConfiguration,
        )
        from msgraph.generated.service_principals.service_principals_request_builder import (  # noqa: PLC0415
            ServicePrincipalsRequestBuilder,
        )

        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq {_literal(app_id)}", select=SERVICE_PRINCIPAL_FIELDS
        )
        builder = self._client.service_principals
        call = "GET /servicePrincipals?$filter=appId eq ..."
        page = await self._send(call, builder.get(RequestConfiguration(query_parameters=query)))
        found = page.value if page and page.value else []
        return _service_principal(found[0]) if found else None

    async def update_service_principal(self, object_id: str, patch: ServicePrincipalPatch) -> None:
        builder = self._client.service_principals.by_service_principal_id(object_id)
        body = _service_principal_body(patch)
        await self._send("PATCH /servicePrincipals/{id}", builder.patch(body))

    async def add_token_signing_certificate(
        self, service_principal_id: str, display_name: str, end: datetime
    ) -> SigningKey:
        from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501, PLC0415
            AddTokenSigningCertificatePostRequestBody,
        )

        builder = self._client.service_principals.by_service_principal_id(service_principal_id)
        body = AddTokenSigningCertificatePostRequestBody(
            display_name=display_name, end_date_time=end
        )
        call = "POST /servicePrincipals/{id}/addTokenSigningCertificate"
        made = await self._send(call, builder.add_token_signing_certificate.post(body))
        if made is None or not made.thumbprint or made.end_date_time is None:
            raise GraphError(502, "IncompleteResponse", "no thumbprint returned", call=call)
        return SigningKey(made.thumbprint.upper(), made.end_date_time)

    # -- assignments -----------------------------------------------------------------------

    async def list_assignments(self, service_principal_id: str) -> list[AssignmentState]:
        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to
        call = "GET /servicePrincipals/{id}/appRoleAssignedTo"
        page = await self._send(call, builder.get())
        found: list[AssignmentState] = []
        while page is not None:
            found.extend(
                AssignmentState(str(a.id), str(a.principal_id).lower(), str(a.app_role_id))
                for a in page.value or []
                if a.id and a.principal_id
            )
            next_link = page.odata_next_link
            page = await self._send(call, builder.with_url(next_link).get()) if next_link else None
        return found

    async def assign(self, service_principal_id: str, principal_id: str, app_role_id: str) -> None:
        from msgraph.generated.models.app_role_assignment import (  # noqa: PLC0415
            AppRoleAssignment,
        )

        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to
        body = AppRoleAssignment(
            principal_id=UUID(principal_id),
            resource_id=UUID(service_principal_id),
            app_role_id=UUID(app_role_id),
        )
        await self._send("POST /servicePrincipals/{id}/appRoleAssignedTo", builder.post(body))

    async def unassign(self, service_principal_id: str, assignment_id: str) -> None:
        builder = self._client.service_principals.by_service_principal_id(
            service_principal_id
        ).app_role_assigned_to.by_app_role_assignment_id(assignment_id)
        await self._send("DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}", builder.delete())

    # -- errors ----------------------------------------------------------------------------

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


def _application(app: Application) -> ApplicationState:
    web = app.web
    return ApplicationState(
        object_id=app.id or "",
        app_id=app.app_id or "",
        display_name=app.display_name or "",
        tags=tuple(app.tags or ()),
        notes=app.notes,
        identifier_uris=tuple(app.identifier_uris or ()),
        redirect_uris=tuple(web.redirect_uris or ()) if web else (),
        logout_url=web.logout_url if web else None,
        created=app.created_date_time,
        group_membership_claims=app.group_membership_claims,
    )


def _service_principal(sp: ServicePrincipal) -> ServicePrincipalState:
    keys: dict[str, SigningKey] = {}
    for credential in sp.key_credentials or []:
        if credential.custom_key_identifier and credential.end_date_time:
            thumbprint = credential.custom_key_identifier.hex().upper()
            keys[thumbprint] = SigningKey(thumbprint, credential.end_date_time)
    roles = tuple(
        AppRole(
            role_id=str(role.id),
            display_name=role.display_name or "",
            member_types=tuple(role.allowed_member_types or ()),
            enabled=bool(role.is_enabled),
        )
        for role in sp.app_roles or []
        if role.id
    )
    return ServicePrincipalState(
        object_id=sp.id or "",
        app_id=sp.app_id or "",
        display_name=sp.display_name or "",
        sso_mode=sp.preferred_single_sign_on_mode,
        assignment_required=bool(sp.app_role_assignment_required),
        notes=sp.notes,
        preferred_thumbprint=sp.preferred_token_signing_key_thumbprint,
        signing_keys=tuple(keys.values()),
        app_roles=roles,
        relay_state=sp.saml_single_sign_on_settings.relay_state
        if sp.saml_single_sign_on_settings
        else None,
    )


def _application_body(patch: ApplicationPatch) -> Application:
    from msgraph.generated.models.application import Application  # noqa: PLC0415
    from msgraph.generated.models.web_application import WebApplication  # noqa: PLC0415

    body = Application()
    if "display_name" in patch:
        body.display_name = patch["display_name"]
    if "tags" in patch:
        body.tags = list(patch["tags"])
    if "notes" in patch:
        _set_nullable(body, "notes", patch["notes"])
    if "identifier_uris" in patch:
        body.identifier_uris = list(patch["identifier_uris"])
    if "web" in patch:
        web = WebApplication(redirect_uris=list(patch["web"]["redirect_uris"]))
        _set_nullable(web, "logoutUrl", patch["web"]["logout_url"])
        body.web = web
    if "group_membership_claims" in patch:
        body.group_membership_claims = patch["group_membership_claims"]
    return body


def _service_principal_body(patch: ServicePrincipalPatch) -> ServicePrincipal:
    from msgraph.generated.models.service_principal import ServicePrincipal  # noqa: PLC0415

    body = ServicePrincipal()
    if "display_name" in patch:
        body.display_name = patch["display_name"]
    if "preferred_single_sign_on_mode" in patch:
        body.preferred_single_sign_on_mode = patch["preferred_single_sign_on_mode"]
    if "app_role_assignment_required" in patch:
        body.app_role_assignment_required = patch["app_role_assignment_required"]
    if "notes" in patch:
        _set_nullable(body, "notes", patch["notes"])
    if "preferred_token_signing_key_thumbprint" in patch:
        thumbprint = patch["preferred_token_signing_key_thumbprint"]
        body.preferred_token_signing_key_thumbprint = thumbprint
    if "relay_state" in patch:
        from msgraph.generated.models.saml_single_sign_on_settings import (  # noqa: PLC0415
            SamlSingleSignOnSettings,
        )

        settings = SamlSingleSignOnSettings()
        _set_nullable(settings, "relayState", patch["relay_state"])
        body.saml_single_sign_on_settings = settings
    return body


def _set_nullable(model: Any, json_name: str, value: str | None) -> None:
    """Kiota skips None fields; an explicit JSON null has to travel as additional data."""
    if value is None:
        model.additional_data[json_name] = None
    else:
        setattr(model, _snake(json_name), value)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
