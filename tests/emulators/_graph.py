"""The Microsoft Graph v1.0 endpoints a non-gallery SAML application's lifecycle uses."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlencode

from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
    InstantiatePostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501
    AddTokenSigningCertificatePostRequestBody,
)

from ._directory import (
    CUSTOM_APP_TEMPLATE_ID,
    DEFAULT_ACCESS_ROLE_ID,
    Directory,
    JsonDict,
    ServicePrincipalRecord,
    SigningCertificate,
    assignment_id,
    graph_time,
    new_id,
)
from ._http import HttpRequest, HttpResponse, json_response
from ._odata import (
    FilterSpec,
    GraphError,
    bad_request,
    body_keys,
    compile_filter,
    is_guid,
    not_found,
    parse_body,
)
from ._pki import der_base64, make_self_signed_rsa, parse_subject

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
IDENTIFIER_URI_CONFLICT = (
    "Another object with the same value for property identifierUris already exists."
)

_ops = frozenset
APPLICATION_FILTERS = FilterSpec(
    "Application",
    {
        "id": _ops({"eq", "in"}),
        "appId": _ops({"eq", "in"}),
        "displayName": _ops({"eq", "in", "startswith"}),
        "identifierUris": _ops({"any"}),
        "tags": _ops({"any"}),
        "web/redirectUris": _ops({"any"}),
        "publisherDomain": _ops({"eq", "in", "startswith"}),
        "signInAudience": _ops({"eq", "in"}),
    },
)
SERVICE_PRINCIPAL_FILTERS = FilterSpec(
    "ServicePrincipal",
    {
        "id": _ops({"eq", "in"}),
        "appId": _ops({"eq", "in"}),
        "displayName": _ops({"eq", "in", "startswith"}),
        "tags": _ops({"any"}),
        "servicePrincipalNames": _ops({"any"}),
        "preferredSingleSignOnMode": _ops({"eq", "in"}),
        "accountEnabled": _ops({"eq"}),
        "appOwnerOrganizationId": _ops({"eq", "in"}),
    },
)
# Graph filters appRoleAssignedTo on resourceId and principalDisplayName only.
ASSIGNMENT_FILTERS = FilterSpec(
    "AppRoleAssignment",
    {"resourceId": _ops({"eq"}), "principalDisplayName": _ops({"eq", "startswith"})},
)
USER_FILTERS = FilterSpec(
    "User",
    {
        "id": _ops({"eq", "in"}),
        "displayName": _ops({"eq", "in", "startswith"}),
        "userPrincipalName": _ops({"eq", "in", "startswith"}),
        "mail": _ops({"eq", "in", "startswith"}),
    },
)
GROUP_FILTERS = FilterSpec(
    "Group",
    {
        "id": _ops({"eq", "in"}),
        "displayName": _ops({"eq", "in", "startswith"}),
        "mail": _ops({"eq", "in", "startswith"}),
    },
)

APPLICATION_READ_ONLY = frozenset(
    {
        "id",
        "appId",
        "createdDateTime",
        "deletedDateTime",
        "publisherDomain",
        "applicationTemplateId",
    }
)
SERVICE_PRINCIPAL_READ_ONLY = frozenset(
    {
        "id",
        "appId",
        "appOwnerOrganizationId",
        "applicationTemplateId",
        "appDisplayName",
        "deletedDateTime",
        "servicePrincipalType",
        "signInAudience",
    }
)
SSO_MODES = frozenset({"saml", "password", "oidc", "notSupported"})
MAX_CERT_LIFETIME = dt.timedelta(days=3 * 365 + 1)

Result = tuple[int, Any]


def invalid_value(prop: str, resource: str) -> GraphError:
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{resource}'.")


def read_only(prop: str) -> GraphError:
    return bad_request(f"Property '{prop}' is read-only and cannot be set.")


def _deep_merge(target: JsonDict, changes: JsonDict) -> None:
    # Complex properties merge, collections replace: what Graph does with PATCH.
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str) or ":" not in value or value != value.strip():
        return False
    scheme = value.split(":", 1)[0]
    return bool(scheme) and scheme[0].isalpha() and len(value) <= 255


def _is_web_url(value: Any) -> bool:
    """https anywhere, http only on localhost: Entra's rule for web reply and logout URLs."""
    if not isinstance(value, str) or len(value) > 256:
        return False
    lowered = value.lower()
    if lowered.startswith("https://") and len(value) > len("https://"):
        return True
    return lowered.startswith(("http://localhost", "http://127.0.0.1"))


_READ_APPS = frozenset(
    {
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Application.ReadWrite.OwnedBy",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
_WRITE_APPS = frozenset(
    {"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy", "Directory.ReadWrite.All"}
)
_ASSIGN = frozenset({"AppRoleAssignment.ReadWrite.All"})
_READ_USERS = frozenset(
    {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
_READ_GROUPS = frozenset(
    {"Group.Read.All", "GroupMember.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)


def _authorize(request: HttpRequest, claims: dict[str, Any]) -> None:
    """403 unless the token's application roles cover the call (least privileged sets from
    the Graph permission tables)."""
    names = [part.lower() for part in request.path.split("/")]
    reading = request.method == "GET"
    if "users" in names[2:3]:
        needed = _READ_USERS
    elif "groups" in names[2:3]:
        needed = _READ_GROUPS
    elif "approleassignedto" in names:
        needed = _READ_APPS | _ASSIGN if reading else _ASSIGN
    else:
        needed = _READ_APPS if reading else _WRITE_APPS
    if not needed & set(claims.get("roles") or []):
        raise GraphError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )


class GraphApi:
    """Routes one authenticated Graph request against the `Directory` under its lock."""

    def __init__(
        self, directory: Directory, authenticate: Callable[[HttpRequest], dict[str, Any]]
    ) -> None:
        self.directory = directory
        self.authenticate = authenticate

    # -- entry -------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        client_request_id = request.header("client-request-id") or request_id
        headers = {"request-id": request_id, "client-request-id": client_request_id}
        try:
            claims = self.authenticate(request)
            _authorize(request, claims)
            with self.directory.lock:
                status, payload = self.route(request)
        except GraphError as error:
            body: JsonDict = {"code": error.code, "message": error.message}
            if error.details:
                body["details"] = error.details
            body["innerError"] = {
                "date": graph_time(dt.datetime.now(dt.UTC)),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
            return json_response(error.status, {"error": body}, {**headers, **error.headers})
        if payload is None:
            return HttpResponse(status, b"", headers)
        return json_response(status, payload, headers)

    def route(self, request: HttpRequest) -> Result:  # noqa: PLR0911, PLR0912 (routing table)
        if not request.path.startswith("/v1.0/"):
            raise bad_request(
                f"Invalid version: the emulator serves /v1.0 only, not '{request.path}'.",
                "BadRequest",
            )
        raw_segments = request.path[len("/v1.0/") :].split("/")
        if any(segment == "" for segment in raw_segments):
            raise bad_request(
                f"Resource not found for the segment '' in '{request.path}'.", "BadRequest"
            )
        content_type = (request.header("content-type") or "").lower()
        if request.body.strip() and not content_type.startswith("application/json"):
            raise bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set "
                "and payload is of valid JSON format.",
                "BadRequest",
            )
        segments = [unquote(segment) for segment in raw_segments]
        segments = self._resolve_app_id_key(segments)
        names = [segment.lower() for segment in segments]
        method = request.method
        match names:
            case ["applicationtemplates", _, "instantiate"]:
                self._allow(method, "POST")
                return self.instantiate(segments[1], request.body)
            case ["applications"]:
                self._allow(method, "GET")
                return self.list_applications(request)
            case ["applications", _]:
                return self.application_item(method, segments[1], request)
            case ["serviceprincipals"]:
                self._allow(method, "GET")
                return self.list_service_principals(request)
            case ["serviceprincipals", _]:
                return self.service_principal_item(method, segments[1], request)
            case ["serviceprincipals", _, "addtokensigningcertificate"]:
                self._allow(method, "POST")
                return self.add_token_signing_certificate(segments[1], request.body)
            case ["serviceprincipals", _, "approleassignedto"]:
                self._allow(method, "GET", "POST")
                if method == "GET":
                    return self.list_assignments(segments[1], request)
                return self.create_assignment(segments[1], request.body)
            case ["serviceprincipals", _, "approleassignedto", _]:
                self._allow(method, "GET", "DELETE")
                return self.assignment_item(method, segments[1], segments[3])
            case ["directory", "deleteditems", "graph.application"]:
                self._allow(method, "GET")
                return self.list_deleted_applications(request)
            case ["directory", "deleteditems", _]:
                self._allow(method, "GET", "DELETE")
                return self.deleted_item(method, segments[2], cast=False)
            case ["directory", "deleteditems", _, "graph.application"]:
                self._allow(method, "GET")
                return self.deleted_item(method, segments[2], cast=True)
            case ["directory", "deleteditems", _, "restore"]:
                self._allow(method, "POST")
                return self.restore(segments[2])
            case ["users" | "groups" as kind]:
                self._allow(method, "GET")
                return self.list_principals(kind, request)
            case ["users" | "groups" as kind, _]:
                self._allow(method, "GET")
                return self.principal_item(kind, segments[1])
        raise bad_request(f"Resource not found for the segment '{segments[-1]}'.", "BadRequest")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise GraphError(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            )

    def _resolve_app_id_key(self, segments: list[str]) -> list[str]:
        """`applications(appId='...')` -> `applications/{objectId}`: the alternate key."""
        head = segments[0]
        for collection in ("applications", "servicePrincipals"):
            prefix = f"{collection}(appId='"
            if head.lower().startswith(prefix.lower()) and head.endswith("')"):
                app_id = head[len(prefix) : -2]
                object_id = self._object_id_for_app_id(collection, app_id)
                if object_id is None:
                    raise not_found(app_id)
                return [collection, object_id, *segments[1:]]
        return segments

    def _object_id_for_app_id(self, collection: str, app_id: str) -> str | None:
        if collection == "applications":
            application = self.directory.app_by_app_id(app_id)
            return application["id"] if application else None
        record = self.directory.sp_for_app(app_id)
        return record.data["id"] if record else None

    # -- lookups that honour replication lag --------------------------------------------------

    def _checked_id(self, object_id: str) -> None:
        if not is_guid(object_id):
            raise bad_request(f"Invalid object identifier '{object_id}'.")

    def _application(self, object_id: str) -> JsonDict:
        self._checked_id(object_id)
        application = self.directory.applications.get(object_id)
        if application is None or not self.directory.reached(object_id):
            raise not_found(object_id)
        return application

    def _service_principal(self, object_id: str) -> ServicePrincipalRecord:
        self._checked_id(object_id)
        record = self.directory.service_principals.get(object_id)
        if record is None or not self.directory.reached(object_id):
            raise not_found(object_id)
        return record

    # -- collections -------------------------------------------------------------------------

    def _collection(
        self,
        request: HttpRequest,
        items: Iterable[JsonDict],
        spec: FilterSpec,
        context: str,
        type_name: str,
    ) -> Result:
        query = request.query
        for option in ("$orderby", "$search", "$expand"):
            if option in query:
                raise bad_request(
                    f"The emulator does not support {option} (not needed by this project).",
                    "Request_UnsupportedQuery",
                )
        selected = list(items)
        if "$filter" in query:
            predicate = compile_filter(query["$filter"], spec)
            selected = [item for item in selected if predicate(item)]
        payload: JsonDict = {"@odata.context": CONTEXT + context}
        if query.get("$count", "").lower() == "true":
            if (request.header("ConsistencyLevel") or "").lower() != "eventual":
                raise bad_request("$count is not currently supported.")
            payload["@odata.count"] = len(selected)
        token = query.get("$skiptoken", "0") or "0"
        if not token.isdigit():
            raise bad_request(f"Invalid $skiptoken '{token}'.", "BadRequest")
        skip = int(token)
        top = 100
        if "$top" in query:
            try:
                top = int(query["$top"])
            except ValueError:
                top = 0
            if not 1 <= top <= 999:
                raise bad_request(
                    f"Invalid page size specified: '{query['$top']}'. Must be between 1 and 999 "
                    "inclusive."
                )
        page = selected[skip : skip + top]
        payload["value"] = [self._project(item, query, type_name) for item in page]
        if skip + top < len(selected):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + top)
            host = request.header("host") or "127.0.0.1"
            payload["@odata.nextLink"] = f"http://{host}{request.path}?{urlencode(rest)}"
        return 200, payload

    @staticmethod
    def _project(item: JsonDict, query: Any, type_name: str) -> JsonDict:
        result = copy.deepcopy(item)
        if "$select" not in query:
            return result
        wanted = [name.strip() for name in str(query["$select"]).split(",") if name.strip()]
        for name in wanted:
            if name not in item:
                raise bad_request(
                    "Parsing OData Select and Expand failed: Could not find a property named "
                    f"'{name}' on type '{type_name}'."
                )
        return {name: result[name] for name in wanted}

    def _entity(
        self,
        item: JsonDict,
        context: str,
        request: HttpRequest | None = None,
        type_name: str = "microsoft.graph.entity",
    ) -> JsonDict:
        body = {"@odata.context": CONTEXT + context}
        if request is not None and "$select" in request.query:
            body.update(self._project(item, request.query, type_name))
        else:
            body.update(copy.deepcopy(item))
        return body

    # -- applicationTemplates ----------------------------------------------------------------

    def instantiate(self, template_id: str, raw: bytes) -> Result:
        if template_id.lower() != CUSTOM_APP_TEMPLATE_ID:
            raise not_found(template_id)
        parse_body(raw, InstantiatePostRequestBody, None)
        body = body_keys(raw)
        display_name = body.get("displayName")
        if not isinstance(display_name, str) or not display_name.strip():
            raise invalid_value("displayName", "ApplicationTemplate")
        if len(display_name) > 256:
            raise invalid_value("displayName", "ApplicationTemplate")
        application, service_principal = self.directory.instantiate(display_name)
        return 201, {
            "@odata.context": CONTEXT + "microsoft.graph.applicationServicePrincipal",
            "application": copy.deepcopy(application),
            "servicePrincipal": copy.deepcopy(service_principal),
        }

    # -- applications ------------------------------------------------------------------------

    def list_applications(self, request: HttpRequest) -> Result:
        items = [
            app
            for object_id, app in self.directory.applications.items()
            if self.directory.listed(object_id)
        ]
        return self._collection(
            request, items, APPLICATION_FILTERS, "applications", "microsoft.graph.application"
        )

    def application_item(self, method: str, object_id: str, request: HttpRequest) -> Result:
        self._allow(method, "GET", "PATCH", "DELETE")
        application = self._application(object_id)
        if method == "GET":
            return 200, self._entity(
                application, "applications/$entity", request, "microsoft.graph.application"
            )
        if method == "DELETE":
            self.directory.soft_delete_application(application["id"])
            return 204, None
        parse_body(request.body, Application, "microsoft.graph.application")
        changes = body_keys(request.body)
        for prop in changes:
            if prop in APPLICATION_READ_ONLY:
                raise read_only(prop)
        if "passwordCredentials" in changes:
            raise bad_request("New password credentials must be generated using service actions.")
        if "keyCredentials" in changes:
            raise bad_request(
                "The emulator does not model keyCredentials on applications; SAML signing "
                "certificates belong on the service principal (addTokenSigningCertificate)."
            )
        self._check_application_changes(application, changes)
        _deep_merge(application, changes)
        self.directory.sync_service_principal(application)
        return 204, None

    def _check_application_changes(self, application: JsonDict, changes: JsonDict) -> None:
        if "displayName" in changes and not (changes["displayName"] or "").strip():
            raise invalid_value("displayName", "Application")
        uris = changes.get("identifierUris")
        if uris is not None:
            if not all(_is_uri(uri) for uri in uris):
                raise invalid_value("identifierUris", "Application")
            if self.directory.identifier_uri_holders(uris, application["id"]):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    IDENTIFIER_URI_CONFLICT,
                    details=[
                        {
                            "code": "ObjectConflict",
                            "message": IDENTIFIER_URI_CONFLICT,
                            "target": "identifierUris",
                        }
                    ],
                )
        web = changes.get("web")
        if isinstance(web, dict):
            redirect_uris = web.get("redirectUris")
            if redirect_uris is not None and (
                len(redirect_uris) > 256 or not all(_is_web_url(uri) for uri in redirect_uris)
            ):
                raise invalid_value("web.redirectUris", "Application")
            logout_url = web.get("logoutUrl")
            if logout_url is not None and not _is_web_url(logout_url):
                raise invalid_value("web.logoutUrl", "Application")
        claims = changes.get("groupMembershipClaims")
        allowed = {"None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All"}
        if claims is not None and not {part.strip() for part in claims.split(",")} <= allowed:
            raise invalid_value("groupMembershipClaims", "Application")
        tags = changes.get("tags")
        if tags is not None and any(not tag or len(tag) > 256 for tag in tags):
            raise invalid_value("tags", "Application")

    # -- deleted items -----------------------------------------------------------------------

    def list_deleted_applications(self, request: HttpRequest) -> Result:
        items = [
            {"@odata.type": "#microsoft.graph.application", **app}
            for app in self.directory.deleted_applications.values()
        ]
        return self._collection(
            request,
            items,
            APPLICATION_FILTERS,
            "directory/deletedItems/microsoft.graph.application",
            "microsoft.graph.application",
        )

    def _deleted(self, object_id: str) -> JsonDict:
        self._checked_id(object_id)
        application = self.directory.deleted_applications.get(object_id)
        if application is None or not self.directory.reached(object_id):
            raise not_found(object_id)
        return application

    def deleted_item(self, method: str, object_id: str, *, cast: bool) -> Result:
        application = self._deleted(object_id)
        if method == "DELETE":
            del self.directory.deleted_applications[object_id]
            return 204, None
        context = "applications/$entity" if cast else "directoryObjects/$entity"
        body = {"@odata.context": CONTEXT + context, "@odata.type": "#microsoft.graph.application"}
        body.update(copy.deepcopy(application))
        return 200, body

    def restore(self, object_id: str) -> Result:
        application = self._deleted(object_id)
        if self.directory.identifier_uri_holders(
            application.get("identifierUris") or [], object_id
        ):
            raise GraphError(400, "Request_BadRequest", IDENTIFIER_URI_CONFLICT)
        del self.directory.deleted_applications[object_id]
        application["deletedDateTime"] = None
        self.directory.applications[object_id] = application
        body = {
            "@odata.context": CONTEXT + "directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.application",
        }
        body.update(copy.deepcopy(application))
        return 200, body

    # -- service principals ------------------------------------------------------------------

    def list_service_principals(self, request: HttpRequest) -> Result:
        items = [
            record.data
            for object_id, record in self.directory.service_principals.items()
            if self.directory.listed(object_id)
        ]
        return self._collection(
            request,
            items,
            SERVICE_PRINCIPAL_FILTERS,
            "servicePrincipals",
            "microsoft.graph.servicePrincipal",
        )

    def service_principal_item(self, method: str, object_id: str, request: HttpRequest) -> Result:
        self._allow(method, "GET", "PATCH", "DELETE")
        record = self._service_principal(object_id)
        if method == "GET":
            return 200, self._entity(
                record.data,
                "servicePrincipals/$entity",
                request,
                "microsoft.graph.servicePrincipal",
            )
        if method == "DELETE":
            if record.data.get("preferredSingleSignOnMode") == "saml":
                # DESIGN.md: a SAML app is removed through its application object.
                raise bad_request(
                    "The service principal of a SAML application cannot be deleted directly; "
                    "delete the application object instead."
                )
            del self.directory.service_principals[object_id]
            return 204, None
        return self._patch_service_principal(record, request.body)

    def _patch_service_principal(self, record: ServicePrincipalRecord, raw: bytes) -> Result:
        parse_body(raw, ServicePrincipal, "microsoft.graph.servicePrincipal")
        changes = body_keys(raw)
        for prop in changes:
            if prop in SERVICE_PRINCIPAL_READ_ONLY:
                raise read_only(prop)
        before = record.published_der()
        if "passwordCredentials" in changes or "keyCredentials" in changes:
            removed = _removed_certificates(record, changes)
        else:
            removed = []
        mode = changes.get("preferredSingleSignOnMode", "saml")
        if mode is not None and mode not in SSO_MODES:
            raise invalid_value("preferredSingleSignOnMode", "ServicePrincipal")
        activating = "preferredTokenSigningKeyThumbprint" in changes
        thumbprint = changes.get("preferredTokenSigningKeyThumbprint")
        if activating and thumbprint is not None and record.certificate(thumbprint) is None:
            raise invalid_value("preferredTokenSigningKeyThumbprint", "ServicePrincipal")
        if "displayName" in changes and not (changes["displayName"] or "").strip():
            raise invalid_value("displayName", "ServicePrincipal")
        if activating and thumbprint is not None:
            changes["preferredTokenSigningKeyThumbprint"] = thumbprint.upper()
        if removed:
            kept = {cert.sign_key_id for cert in record.certificates if cert not in removed}
            record.data["keyCredentials"] = [
                k for k in record.data["keyCredentials"] if k["keyId"] not in _key_ids(removed)
            ]
            record.data["passwordCredentials"] = [
                c for c in record.data["passwordCredentials"] if c["keyId"] in kept
            ]
            record.certificates = [cert for cert in record.certificates if cert not in removed]
        changes.pop("keyCredentials", None)
        changes.pop("passwordCredentials", None)
        _deep_merge(record.data, changes)
        record.metadata_changed(
            before, self.directory.metadata_lag_fetches, self.directory.metadata_lag_seconds
        )
        return 204, None

    def add_token_signing_certificate(self, object_id: str, raw: bytes) -> Result:
        record = self._service_principal(object_id)
        parse_body(raw, AddTokenSigningCertificatePostRequestBody, None)
        body = body_keys(raw)
        display_name = body.get("displayName")
        if not isinstance(display_name, str) or not display_name.upper().startswith("CN="):
            raise invalid_value("displayName", "SelfSignedCertificate")
        try:
            subject = parse_subject(display_name)
        except ValueError as exc:
            raise invalid_value("displayName", "SelfSignedCertificate") from exc
        now = self.directory.clock.now().replace(microsecond=0)
        end = now + dt.timedelta(days=3 * 365)
        if body.get("endDateTime") is not None:
            end = dt.datetime.fromisoformat(body["endDateTime"])
            end = (end if end.tzinfo else end.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if end <= now or end - now > MAX_CERT_LIFETIME:
            raise invalid_value("endDateTime", "SelfSignedCertificate")
        issued = make_self_signed_rsa(subject, now, end)
        before = record.published_der()
        cert = SigningCertificate(
            issued=issued,
            display_name=display_name,
            verify_key_id=new_id(),
            sign_key_id=new_id(),
            start=now,
            end=end,
        )
        record.certificates.append(cert)
        common = {
            "customKeyIdentifier": cert.custom_key_identifier,
            "displayName": display_name,
            "endDateTime": graph_time(end),
            "key": None,
            "startDateTime": graph_time(now),
        }
        record.data["keyCredentials"].extend(
            [
                {
                    **common,
                    "keyId": cert.verify_key_id,
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                },
                {
                    **common,
                    "keyId": cert.sign_key_id,
                    "type": "X509CertAndPassword",
                    "usage": "Sign",
                },
            ]
        )
        record.data["passwordCredentials"].append(
            {
                "customKeyIdentifier": cert.custom_key_identifier,
                "displayName": None,
                "endDateTime": graph_time(end),
                "hint": None,
                "keyId": cert.sign_key_id,
                "secretText": None,
                "startDateTime": graph_time(now),
            }
        )
        record.metadata_changed(
            before, self.directory.metadata_lag_fetches, self.directory.metadata_lag_seconds
        )
        return 200, {
            "@odata.context": CONTEXT + "microsoft.graph.selfSignedCertificate",
            **common,
            "key": der_base64(issued.cert),
            "keyId": cert.verify_key_id,
            "thumbprint": cert.thumbprint,
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }

    # -- app role assignments ----------------------------------------------------------------

    def list_assignments(self, object_id: str, request: HttpRequest) -> Result:
        record = self._service_principal(object_id)
        items = [
            assignment
            for assignment_key, assignment in record.assignments.items()
            if self.directory.listed(assignment_key)
        ]
        return self._collection(
            request,
            items,
            ASSIGNMENT_FILTERS,
            f"servicePrincipals('{object_id}')/appRoleAssignedTo",
            "microsoft.graph.appRoleAssignment",
        )

    def create_assignment(self, object_id: str, raw: bytes) -> Result:
        record = self._service_principal(object_id)
        parse_body(raw, AppRoleAssignment, "microsoft.graph.appRoleAssignment")
        body = body_keys(raw)
        for prop in ("id", "createdDateTime", "deletedDateTime"):
            if prop in body:
                raise read_only(prop)
        for prop in ("principalId", "resourceId", "appRoleId"):
            if not body.get(prop):
                raise invalid_value(prop, "AppRoleAssignment")
        if body["resourceId"].lower() != object_id.lower():
            raise invalid_value("resourceId", "AppRoleAssignment")
        principal = self.directory.principals.get(body["principalId"].lower())
        if principal is None:
            raise invalid_value("principalId", "AppRoleAssignment")
        role_id = body["appRoleId"].lower()
        roles = [role for role in record.data.get("appRoles") or [] if role.get("isEnabled")]
        role_ids = {role["id"] for role in roles} or {DEFAULT_ACCESS_ROLE_ID}
        if role_id not in role_ids:
            raise bad_request(
                f"Permission being assigned was not found on application '{record.data['appId']}'."
            )
        for existing in record.assignments.values():
            if existing["principalId"] == principal.data["id"] and existing["appRoleId"] == role_id:
                raise bad_request("Permission being assigned already exists on the object")
        key = assignment_id(principal.data["id"])
        assignment = {
            "id": key,
            "deletedDateTime": None,
            "appRoleId": role_id,
            "createdDateTime": graph_time(self.directory.clock.now()),
            "principalDisplayName": principal.data["displayName"],
            "principalId": principal.data["id"],
            "principalType": principal.kind,
            "resourceDisplayName": record.data["displayName"],
            "resourceId": record.data["id"],
        }
        record.assignments[key] = assignment
        self.directory.created(key)
        return 201, {
            "@odata.context": CONTEXT
            + f"servicePrincipals('{object_id}')/appRoleAssignedTo/$entity",
            **copy.deepcopy(assignment),
        }

    def assignment_item(self, method: str, object_id: str, key: str) -> Result:
        record = self._service_principal(object_id)
        assignment = record.assignments.get(key)
        if assignment is None or not self.directory.reached(key):
            raise not_found(key)
        if method == "DELETE":
            del record.assignments[key]
            return 204, None
        return 200, self._entity(
            assignment, f"servicePrincipals('{object_id}')/appRoleAssignedTo/$entity"
        )

    # -- users and groups --------------------------------------------------------------------

    def list_principals(self, kind: str, request: HttpRequest) -> Result:
        wanted = "User" if kind == "users" else "Group"
        items = [p.data for p in self.directory.principals.values() if p.kind == wanted]
        spec = USER_FILTERS if kind == "users" else GROUP_FILTERS
        return self._collection(request, items, spec, kind, f"microsoft.graph.{wanted.lower()}")

    def principal_item(self, kind: str, object_id: str) -> Result:
        self._checked_id(object_id)
        principal = self.directory.principals.get(object_id.lower())
        wanted = "User" if kind == "users" else "Group"
        if principal is None or principal.kind != wanted:
            raise not_found(object_id)
        return 200, self._entity(principal.data, f"{kind}/$entity")


# -- removing signing certificates (PATCH keyCredentials + passwordCredentials) -------------


def _key_ids(certificates: Iterable[SigningCertificate]) -> set[str]:
    return {key for cert in certificates for key in (cert.verify_key_id, cert.sign_key_id)}


def _removed_certificates(
    record: ServicePrincipalRecord, changes: JsonDict
) -> list[SigningCertificate]:
    """The signing certificates a PATCH of the credential collections leaves out.

    How SAML signing certificates are deleted (removeKey needs a proof signed with the
    certificate's private key, which only Entra holds): send both collections without the
    old certificate's Sign and Verify keys and its password (msgraph discussion #94). The
    emulator accepts only that: existing keyIds, both collections together, whole
    certificates, never the active one."""
    keys, passwords = changes.get("keyCredentials", []), changes.get("passwordCredentials", [])
    if not isinstance(keys, list) or not isinstance(passwords, list):
        raise invalid_value("keyCredentials", "ServicePrincipal")
    key_ids = {str(k.get("keyId")) for k in keys if isinstance(k, dict)}
    password_ids = {str(c.get("keyId")) for c in passwords if isinstance(c, dict)}
    if not password_ids <= {cert.sign_key_id for cert in record.certificates}:
        raise bad_request("New password credentials must be generated using service actions.")
    if not key_ids <= _key_ids(record.certificates):
        raise bad_request(
            "The emulator does not model uploading keyCredentials; use addTokenSigningCertificate."
        )
    if "keyCredentials" not in changes or "passwordCredentials" not in changes:
        raise bad_request(
            "The emulator removes a SAML signing certificate only with keyCredentials and "
            "passwordCredentials in one PATCH (its Sign/Verify keys and its password)."
        )
    removed: list[SigningCertificate] = []
    for cert in record.certificates:
        kept = {cert.verify_key_id, cert.sign_key_id} & key_ids
        if kept and (kept != {cert.verify_key_id, cert.sign_key_id}):
            raise bad_request(f"Certificate {cert.thumbprint} would lose only one of its keys.")
        if bool(kept) != (cert.sign_key_id in password_ids):
            raise bad_request(
                f"Certificate {cert.thumbprint}: keep or remove its keyCredentials and its "
                "passwordCredential together."
            )
        if not kept:
            removed.append(cert)
    active = record.data.get("preferredTokenSigningKeyThumbprint")
    if any(cert.thumbprint == active for cert in removed):
        raise bad_request(
            "The active signing certificate cannot be removed; activate another one first."
        )
    return removed
