"""The Microsoft Graph v1.0 endpoints a non-gallery SAML application's lifecycle uses."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlencode

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
    InstantiatePostRequestBody,
)
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501
    AddTokenSigningCertificatePostRequestBody,
)

from ._directory import (
    CUSTOM_APP_TEMPLATE_ID,
    DEFAULT_ACCESS_ROLE_ID,
    Directory,
    JsonDict,
    Principal,
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
from ._pki import Issued, der_base64, make_self_signed_rsa, parse_subject, sha1_thumbprint

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
# The non-gallery application template per cloud, copied from Graph's instantiate page:
# microsoftgraph/microsoft-graph-docs-contrib:api-reference/v1.0/api/applicationtemplate-instantiate.md  # noqa: E501
NON_GALLERY_TEMPLATE_IDS = {
    "global": CUSTOM_APP_TEMPLATE_ID,
    "usgov": "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
    "usgov-dod": "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
    "china": "5a532e38-1581-4918-9658-008dc27c1d68",
}
# addTokenSigningCertificate's national-cloud table: the global service only
# microsoftgraph/microsoft-graph-docs-contrib:api-reference/v1.0/api/serviceprincipal-addtokensigningcertificate.md  # noqa: E501
ADD_TOKEN_SIGNING_CERTIFICATE_CLOUDS = frozenset({"global"})
IDENTIFIER_URI_CONFLICT = (
    "Another object with the same value for property identifierUris already exists."
)

_ops = frozenset
UNIQUE_NAME_TAKEN = "Another object with the same value for property uniqueName already exists."
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
# Entra's limits on federated identity credentials (Graph's federatedIdentityCredential page).
MAX_FEDERATED_CREDENTIALS = 20
FEDERATED_NAME = re.compile(r"^[A-Za-z0-9_-]{3,120}$")
FEDERATED_KEYS = ("name", "issuer", "subject", "audiences", "description")
# Directory role template ids allowed to grant a Microsoft API's application permissions
# (admin consent): Global Administrator, Privileged Role Administrator.
CONSENT_ADMIN_ROLES = frozenset(
    {"62e90394-69f5-4237-9190-012177145e10", "e8611ab8-c189-46e8-94e1-60213ab1f814"}
)

Result = tuple[int, Any]
RSA_KEY = rsa.RSAPrivateKey


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
    granted = set(claims.get("roles") or [])
    if "scp" in claims:
        # A delegated token: the signed-in admin's consented scopes (same names as the
        # application permissions for these calls); Directory.AccessAsUser.All covers all.
        granted = set(str(claims["scp"]).split())
        if "Directory.AccessAsUser.All" in granted:
            return
    if not needed & granted:
        raise GraphError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )


def _application_view(application: JsonDict, *, with_keys: bool) -> JsonDict:
    """An application as Graph shows it: federated credentials are a navigation property (not
    inlined), and uploaded certificates' `key` appears only when selected."""
    view = {k: v for k, v in application.items() if k != "federatedIdentityCredentials"}
    if not with_keys:
        view["keyCredentials"] = [
            {**credential, "key": None} for credential in application.get("keyCredentials") or []
        ]
    return view


def _uploaded_key_credentials(credentials: Any) -> list[JsonDict]:
    """keyCredentials as `PATCH /applications/{id}` stores them (the collection is replaced):
    each an X.509 certificate (`key`, base64 DER) of type AsymmetricX509Cert for Verify."""
    stored: list[JsonDict] = []
    for credential in credentials or []:
        if credential.get("type") != "AsymmetricX509Cert" or credential.get("usage") != "Verify":
            raise invalid_value("keyCredentials.type", "KeyCredential")
        try:
            der = base64.b64decode(credential.get("key") or "", validate=True)
            cert = x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError) as exc:
            raise bad_request(
                "Invalid value specified for property 'key' of resource 'KeyCredential'."
            ) from exc
        thumbprint = bytes.fromhex(sha1_thumbprint(der))
        stored.append(
            {
                "customKeyIdentifier": credential.get("customKeyIdentifier")
                or base64.b64encode(thumbprint).decode("ascii"),
                "displayName": credential.get("displayName") or cert.subject.rfc4514_string(),
                "endDateTime": graph_time(cert.not_valid_after_utc),
                "key": base64.b64encode(der).decode("ascii"),
                "keyId": credential.get("keyId") or new_id(),
                "startDateTime": graph_time(cert.not_valid_before_utc),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            }
        )
    return stored


def _federated_id(application_id: str, name: str) -> str:
    # Stable per (application, name), so the stored records keep exactly FEDERATED_KEYS.
    return str(uuid.uuid5(uuid.UUID(application_id), name.casefold()))


def _new_password() -> str:
    # Entra's client secrets: 40 characters, a "~" after a 3-character prefix and a digit.
    return secrets.token_urlsafe(2)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]


class GraphApi:
    """Routes one authenticated Graph request against the `Directory` under its lock."""

    def __init__(
        self, directory: Directory, authenticate: Callable[[HttpRequest], dict[str, Any]]
    ) -> None:
        self.directory = directory
        self.authenticate = authenticate
        self.claims: dict[str, Any] = {}  # of the request being routed (under the lock)
        self.cloud = "global"
        # Replica lag of new signing keys: for each request to the service principal after a
        # key is added, whether it sees the key ("y") or not ("n"); then always "y".
        self.key_visibility = ""
        self._lagging_keys: dict[str, tuple[set[str], list[str]]] = {}

    # -- entry -------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        client_request_id = request.header("client-request-id") or request_id
        headers = {"request-id": request_id, "client-request-id": client_request_id}
        try:
            claims = self.authenticate(request)
            _authorize(request, claims)
            with self.directory.lock:
                self.claims = claims
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
        upserted = self._upsert_by_unique_name(segments, request)
        if upserted is not None:
            return upserted
        segments = self._resolve_app_id_key(segments)
        names = [segment.lower() for segment in segments]
        method = request.method
        match names:
            case ["applicationtemplates", _, "instantiate"]:
                self._allow(method, "POST")
                return self.instantiate(segments[1], request.body)
            case ["applications"]:
                self._allow(method, "GET", "POST")
                if method == "POST":
                    return self.create_application(request.body, None)
                return self.list_applications(request)
            case ["applications", _]:
                return self.application_item(method, segments[1], request)
            case ["applications", _, "addpassword"]:
                self._allow(method, "POST")
                return self.add_password(segments[1], request.body)
            case ["applications", _, "federatedidentitycredentials"]:
                self._allow(method, "GET", "POST")
                if method == "GET":
                    return self.list_federated_credentials(segments[1], request)
                return self.create_federated_credential(segments[1], request.body)
            case ["applications", _, "federatedidentitycredentials", _]:
                self._allow(method, "GET", "PATCH", "DELETE")
                return self.federated_credential_item(method, segments[1], segments[3], request)
            case ["serviceprincipals"]:
                self._allow(method, "GET", "POST")
                if method == "POST":
                    return self.create_service_principal(request.body)
                return self.list_service_principals(request)
            case ["serviceprincipals", _]:
                return self.service_principal_item(method, segments[1], request)
            case ["serviceprincipals", _, "approleassignments"]:
                self._allow(method, "GET")
                return self.list_granted_roles(segments[1], request)
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
            case ["directory", "deleteditems", "graph.application" | "microsoft.graph.application"]:
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
            case ["groups", _, "members", "microsoft.graph.group"]:
                self._allow(method, "GET")
                return self.member_groups(segments[1], request)
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

    def _upsert_by_unique_name(self, segments: list[str], request: HttpRequest) -> Result | None:
        """`PATCH /applications(uniqueName='...')` with `Prefer: create-if-missing` creates the
        application when no live one holds that uniqueName (201 with the new object); every
        other request with that key is routed to the application holding it, or 404."""
        head = segments[0]
        prefix = "applications(uniquename='"
        if not (head.lower().startswith(prefix) and head.endswith("')")):
            return None
        unique_name = head[len(prefix) : -2]
        application = self.directory.app_by_unique_name(unique_name)
        if application is not None:
            segments[0:1] = ["applications", application["id"]]
            return None
        prefer = {p.strip().lower() for p in (request.header("prefer") or "").split(",")}
        if request.method == "PATCH" and len(segments) == 1 and "create-if-missing" in prefer:
            # A deleted application keeps its uniqueName in the recycle bin (30 days): the
            # name is taken until it is restored or purged.
            if self.directory.deleted_app_by_unique_name(unique_name) is not None:
                raise GraphError(400, "Request_BadRequest", UNIQUE_NAME_TAKEN)
            return self.create_application(request.body, unique_name)
        raise not_found(unique_name)

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
        if template_id.lower() != NON_GALLERY_TEMPLATE_IDS[self.cloud]:
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
            _application_view(app, with_keys=False)
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
            # Graph returns keyCredentials' `key` only when $select names keyCredentials.
            selected = {n.strip() for n in str(request.query.get("$select", "")).split(",")}
            view = _application_view(application, with_keys="keyCredentials" in selected)
            return 200, self._entity(
                view, "applications/$entity", request, "microsoft.graph.application"
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
            changes["keyCredentials"] = _uploaded_key_credentials(changes["keyCredentials"])
        if "uniqueName" in changes and application.get("uniqueName") not in (
            None,
            changes["uniqueName"],
        ):
            raise bad_request("Property 'uniqueName' cannot be changed once set.")
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
        hidden = self._hidden_keys(object_id)
        if method == "GET":
            # Graph returns keyCredentials' `key` only when $select names keyCredentials
            # (keyCredential resource type); a Sign key's private part never.
            selected = {n.strip() for n in str(request.query.get("$select", "")).split(",")}
            return 200, self._entity(
                _service_principal_view(record, hidden, with_keys="keyCredentials" in selected),
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
        return self._patch_service_principal(record, request.body, hidden)

    def _hidden_keys(self, object_id: str) -> set[str]:
        """The keyIds this request to the service principal does not see (key lag)."""
        lagging = self._lagging_keys.get(object_id)
        if lagging is None:
            return set()
        key_ids, steps = lagging
        seen = steps.pop(0) == "y" if steps else True
        if not steps:
            del self._lagging_keys[object_id]
        return set() if seen else key_ids

    def _keys_added(self, object_id: str, key_ids: set[str]) -> None:
        if self.key_visibility:
            self._lagging_keys[object_id] = (key_ids, list(self.key_visibility))

    def _patch_service_principal(
        self, record: ServicePrincipalRecord, raw: bytes, hidden: set[str] | None = None
    ) -> Result:
        parse_body(raw, ServicePrincipal, "microsoft.graph.servicePrincipal")
        changes = body_keys(raw)
        for prop in changes:
            if prop in SERVICE_PRINCIPAL_READ_ONLY:
                raise read_only(prop)
        before = record.published_der()
        uploaded: list[SigningCertificate] = []
        if "passwordCredentials" in changes or "keyCredentials" in changes:
            uploaded = _uploaded_certificates(record, changes)
            removed = _removed_certificates(record, changes, uploaded)
        else:
            removed = []
        mode = changes.get("preferredSingleSignOnMode", "saml")
        if mode is not None and mode not in SSO_MODES:
            raise invalid_value("preferredSingleSignOnMode", "ServicePrincipal")
        activating = "preferredTokenSigningKeyThumbprint" in changes
        thumbprint = changes.get("preferredTokenSigningKeyThumbprint")
        if activating and thumbprint is not None:
            cert = record.certificate(thumbprint)
            if cert is None or cert.verify_key_id in (hidden or set()):
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
        for cert in uploaded:
            store_certificate(record, cert)
            self._keys_added(record.data["id"], {cert.verify_key_id, cert.sign_key_id})
        changes.pop("keyCredentials", None)
        changes.pop("passwordCredentials", None)
        _deep_merge(record.data, changes)
        record.metadata_changed(
            before, self.directory.metadata_lag_fetches, self.directory.metadata_lag_seconds
        )
        return 204, None

    def add_token_signing_certificate(self, object_id: str, raw: bytes) -> Result:
        if self.cloud not in ADD_TOKEN_SIGNING_CERTIFICATE_CLOUDS:
            # Not in this cloud's API: Graph's answer to a segment its $metadata lacks.
            raise bad_request(
                "Resource not found for the segment 'addTokenSigningCertificate'.", "BadRequest"
            )
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
        store_certificate(record, cert)
        self._keys_added(object_id, {cert.verify_key_id, cert.sign_key_id})
        common = {
            "customKeyIdentifier": cert.custom_key_identifier,
            "displayName": display_name,
            "endDateTime": graph_time(end),
            "key": None,
            "startDateTime": graph_time(now),
        }
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

    # -- app registrations (the deployer) ----------------------------------------------------

    def create_application(self, raw: bytes, unique_name: str | None) -> Result:
        """`POST /applications`, or the create half of the uniqueName upsert."""
        parse_body(raw, Application, "microsoft.graph.application")
        changes = body_keys(raw)
        for prop in changes:
            if prop in APPLICATION_READ_ONLY:
                raise read_only(prop)
        display_name = changes.pop("displayName", None)
        if not isinstance(display_name, str) or not display_name.strip():
            raise bad_request("Property 'displayName' is required.")
        if "passwordCredentials" in changes:
            raise bad_request("New password credentials must be generated using service actions.")
        if unique_name is not None:
            if changes.get("uniqueName") not in (None, unique_name):
                raise invalid_value("uniqueName", "Application")
            changes["uniqueName"] = unique_name
        elif changes.get("uniqueName") and self.directory.app_by_unique_name(changes["uniqueName"]):
            raise GraphError(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                UNIQUE_NAME_TAKEN,
            )
        if "keyCredentials" in changes:
            changes["keyCredentials"] = _uploaded_key_credentials(changes["keyCredentials"])
        self._check_application_changes({"id": ""}, {"displayName": display_name, **changes})
        application = self.directory.create_application(display_name, changes)
        return 201, {
            "@odata.context": CONTEXT + "applications/$entity",
            **copy.deepcopy(_application_view(application, with_keys=False)),
        }

    def add_password(self, object_id: str, raw: bytes) -> Result:
        application = self._application(object_id)
        parse_body(raw, AddPasswordPostRequestBody, None)
        requested = body_keys(raw).get("passwordCredential") or {}
        for prop in ("keyId", "secretText", "hint", "customKeyIdentifier"):
            if requested.get(prop) is not None:
                raise read_only(prop)
        now = self.directory.clock.now().replace(microsecond=0)
        end = now + dt.timedelta(days=2 * 365)
        if requested.get("endDateTime") is not None:
            end = dt.datetime.fromisoformat(requested["endDateTime"])
            end = (end if end.tzinfo else end.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if end <= now:
            raise invalid_value("endDateTime", "PasswordCredential")
        secret = _new_password()
        credential = {
            "customKeyIdentifier": None,
            "displayName": requested.get("displayName"),
            "endDateTime": graph_time(end),
            "hint": secret[:3],
            "keyId": new_id(),
            "secretText": None,
            "startDateTime": graph_time(now),
        }
        application["passwordCredentials"].append(credential)
        return 200, {
            "@odata.context": CONTEXT + "microsoft.graph.passwordCredential",
            **credential,
            "secretText": secret,
        }

    def _federated(self, application: JsonDict) -> list[JsonDict]:
        credentials: list[JsonDict] = application.setdefault("federatedIdentityCredentials", [])
        return credentials

    def _federated_entity(self, application: JsonDict, credential: JsonDict) -> JsonDict:
        return {"id": _federated_id(application["id"], credential["name"]), **credential}

    def list_federated_credentials(self, object_id: str, request: HttpRequest) -> Result:
        application = self._application(object_id)
        items = [self._federated_entity(application, c) for c in self._federated(application)]
        spec = FilterSpec(
            "FederatedIdentityCredential",
            {"name": _ops({"eq", "in"}), "subject": _ops({"eq"}), "issuer": _ops({"eq"})},
        )
        return self._collection(
            request,
            items,
            spec,
            f"applications('{object_id}')/federatedIdentityCredentials",
            "microsoft.graph.federatedIdentityCredential",
        )

    def _check_federated(self, credential: JsonDict) -> None:
        if not FEDERATED_NAME.match(str(credential.get("name") or "")):
            raise invalid_value("name", "FederatedIdentityCredential")
        issuer = credential.get("issuer")
        if not isinstance(issuer, str) or not issuer.startswith("https://"):
            raise invalid_value("issuer", "FederatedIdentityCredential")
        subject = credential.get("subject")
        if not isinstance(subject, str) or not subject or len(subject) > 600:
            raise invalid_value("subject", "FederatedIdentityCredential")
        audiences = credential.get("audiences")
        # Entra accepts exactly one audience.
        if not isinstance(audiences, list) or len(audiences) != 1 or not audiences[0]:
            raise invalid_value("audiences", "FederatedIdentityCredential")

    def _federated_conflict(
        self, application: JsonDict, credential: JsonDict, except_name: str | None
    ) -> None:
        for existing in self._federated(application):
            if except_name is not None and existing["name"].casefold() == except_name.casefold():
                continue
            same_name = existing["name"].casefold() == credential["name"].casefold()
            same_pair = (existing["issuer"], existing["subject"]) == (
                credential["issuer"],
                credential["subject"],
            )
            # As Graph answers (Azure/azure-dev#1482; Azure/azure-workload-identity#434).
            if same_name:
                raise GraphError(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    f"FederatedIdentityCredential with name {credential['name']} already exists.",
                )
            if same_pair:
                raise GraphError(
                    400,
                    "InvalidFederatedIdentityCredentialValue",
                    "The combination of issuer and subject must be unique for the application. "
                    f"Issuer {credential['issuer']} and Subject: {credential['subject']} "
                    "already exist.",
                )

    def create_federated_credential(self, object_id: str, raw: bytes) -> Result:
        application = self._application(object_id)
        parse_body(raw, FederatedIdentityCredential, "microsoft.graph.federatedIdentityCredential")
        body = body_keys(raw)
        if "id" in body:
            raise read_only("id")
        credential = {key: body.get(key) for key in FEDERATED_KEYS}
        self._check_federated(credential)
        self._federated_conflict(application, credential, None)
        if len(self._federated(application)) >= MAX_FEDERATED_CREDENTIALS:
            raise bad_request(
                f"An application can have at most {MAX_FEDERATED_CREDENTIALS} federated "
                "identity credentials."
            )
        self._federated(application).append(credential)
        return 201, {
            "@odata.context": CONTEXT
            + f"applications('{object_id}')/federatedIdentityCredentials/$entity",
            **copy.deepcopy(self._federated_entity(application, credential)),
        }

    def federated_credential_item(
        self, method: str, object_id: str, key: str, request: HttpRequest
    ) -> Result:
        application = self._application(object_id)
        credentials = self._federated(application)
        found = next(
            (c for c in credentials if _federated_id(application["id"], c["name"]) == key.lower()),
            None,
        )
        if found is None:
            raise not_found(key)
        if method == "GET":
            return 200, self._entity(
                self._federated_entity(application, found),
                f"applications('{object_id}')/federatedIdentityCredentials/$entity",
            )
        if method == "DELETE":
            credentials.remove(found)
            return 204, None
        parse_body(
            request.body, FederatedIdentityCredential, "microsoft.graph.federatedIdentityCredential"
        )
        changes = body_keys(request.body)
        if "id" in changes or changes.get("name", found["name"]) != found["name"]:
            raise read_only("name" if "name" in changes else "id")
        updated = {**found, **{k: v for k, v in changes.items() if k in FEDERATED_KEYS}}
        self._check_federated(updated)
        self._federated_conflict(application, updated, found["name"])
        found.update(updated)
        return 204, None

    def create_service_principal(self, raw: bytes) -> Result:
        parse_body(raw, ServicePrincipal, "microsoft.graph.servicePrincipal")
        body = body_keys(raw)
        unknown = set(body) - {"appId", "tags", "notes", "appRoleAssignmentRequired"}
        if unknown:
            raise bad_request(
                f"The emulator does not model setting {sorted(unknown)} when creating a service "
                "principal."
            )
        app_id = body.get("appId")
        application = self.directory.app_by_app_id(app_id) if isinstance(app_id, str) else None
        if application is None or not self.directory.reached(application["id"]):
            raise bad_request(
                f"The appId '{app_id}' of the service principal does not reference a valid "
                "application object.",
                "Request_BadRequest",
            )
        if self.directory.sp_for_app(application["appId"]) is not None:
            raise GraphError(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the "
                "service principal name is already in use.",
            )
        data = self.directory.create_service_principal(application)
        for prop in ("tags", "notes", "appRoleAssignmentRequired"):
            if prop in body:
                data[prop] = copy.deepcopy(body[prop])
        return 201, {
            "@odata.context": CONTEXT + "servicePrincipals/$entity",
            **copy.deepcopy(data),
        }

    def list_granted_roles(self, object_id: str, request: HttpRequest) -> Result:
        """`GET /servicePrincipals/{id}/appRoleAssignments`: the app roles (of any resource)
        granted to this service principal."""
        self._service_principal(object_id)
        items = [
            assignment
            for record in self.directory.service_principals.values()
            for key, assignment in record.assignments.items()
            if assignment["principalId"] == object_id and self.directory.listed(key)
        ]
        return self._collection(
            request,
            items,
            ASSIGNMENT_FILTERS,
            f"servicePrincipals('{object_id}')/appRoleAssignments",
            "microsoft.graph.appRoleAssignment",
        )

    def _check_consent_admin(self, record: ServicePrincipalRecord) -> None:
        """Granting or revoking a Microsoft API's application permissions as a signed-in user
        takes Global Administrator or Privileged Role Administrator."""
        if not record.first_party or "scp" not in self.claims:
            return
        if not CONSENT_ADMIN_ROLES & set(self.claims.get("wids") or []):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )

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
        self._check_consent_admin(record)
        principal = self.directory.principals.get(body["principalId"].lower())
        grantee = self.directory.service_principals.get(body["principalId"].lower())
        if principal is None and grantee is not None and self.directory.reached(grantee.data["id"]):
            principal = Principal("ServicePrincipal", grantee.data)
        if principal is None:
            raise invalid_value("principalId", "AppRoleAssignment")
        role_id = body["appRoleId"].lower()
        roles = [role for role in record.data.get("appRoles") or [] if role.get("isEnabled")]
        if principal.kind == "ServicePrincipal":
            roles = [r for r in roles if "Application" in (r.get("allowedMemberTypes") or [])]
        role_ids = {role["id"] for role in roles} or {DEFAULT_ACCESS_ROLE_ID}
        if record.first_party:
            role_ids.discard(DEFAULT_ACCESS_ROLE_ID)
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
            self._check_consent_admin(record)
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

    def member_groups(self, group_id: str, request: HttpRequest) -> Result:
        """`GET /groups/{id}/members/microsoft.graph.group`: the direct members that are groups."""
        self.principal_item("groups", group_id)
        members = self.directory.group_members.get(group_id.lower(), [])
        items = [
            self.directory.principals[m].data
            for m in members
            if m in self.directory.principals and self.directory.principals[m].kind == "Group"
        ]
        return self._collection(request, items, GROUP_FILTERS, "groups", "microsoft.graph.group")


# -- removing signing certificates (PATCH keyCredentials + passwordCredentials) -------------


def _key_ids(certificates: Iterable[SigningCertificate]) -> set[str]:
    return {key for cert in certificates for key in (cert.verify_key_id, cert.sign_key_id)}


def _removed_certificates(
    record: ServicePrincipalRecord, changes: JsonDict, uploaded: list[SigningCertificate]
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
    new_ids = _key_ids(uploaded)
    key_ids = {str(k.get("keyId")) for k in keys if isinstance(k, dict)} - new_ids
    password_ids = {str(c.get("keyId")) for c in passwords if isinstance(c, dict)} - new_ids
    if not password_ids <= {cert.sign_key_id for cert in record.certificates}:
        raise bad_request("New password credentials must be generated using service actions.")
    if not key_ids <= _key_ids(record.certificates):
        raise bad_request(
            "The emulator models uploading keyCredentials only as a SAML signing certificate: "
            "a Sign (X509CertAndPassword, PKCS#12) and a Verify (AsymmetricX509Cert) key."
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


# -- uploading signing certificates (PATCH keyCredentials + passwordCredentials) -------------

INVALID_CERTIFICATE = "Invalid certificate: Key value is invalid certificate"


def _uploaded_certificates(
    record: ServicePrincipalRecord, changes: JsonDict
) -> list[SigningCertificate]:
    """The signing certificates a PATCH adds, as Microsoft documents the upload ("Configure a
    custom signing key", MicrosoftDocs/entra-docs:docs/identity-platform/
    reference-claims-customization.md): per certificate a Sign key (X509CertAndPassword, the
    PKCS#12 file), a Verify key (AsymmetricX509Cert, the certificate) with the same
    customKeyIdentifier, and a passwordCredential with the Sign key's keyId whose secretText
    opens the PKCS#12 file. Anything else new is refused."""
    keys, passwords = changes.get("keyCredentials", []), changes.get("passwordCredentials", [])
    if not isinstance(keys, list) or not isinstance(passwords, list):
        raise invalid_value("keyCredentials", "ServicePrincipal")
    known = _key_ids(record.certificates)
    fresh = [k for k in keys if isinstance(k, dict) and str(k.get("keyId")) not in known]
    secrets_by_id = {
        str(c.get("keyId")): c.get("secretText")
        for c in passwords
        if isinstance(c, dict) and str(c.get("keyId")) not in known
    }
    groups: dict[str, list[JsonDict]] = {}
    for key in fresh:
        if not is_guid(str(key.get("keyId"))):
            raise invalid_value("keyId", "KeyCredential")
        groups.setdefault(str(key.get("customKeyIdentifier")), []).append(key)
    uploaded: list[SigningCertificate] = []
    for identifier, group in groups.items():
        by_usage = {str(k.get("usage")): k for k in group}
        sign, verify = by_usage.get("Sign"), by_usage.get("Verify")
        if len(group) != 2 or sign is None or verify is None:
            raise bad_request(
                "A signing certificate is uploaded as one Sign and one Verify keyCredential "
                "with the same customKeyIdentifier."
            )
        if sign.get("type") != "X509CertAndPassword" or verify.get("type") != "AsymmetricX509Cert":
            raise invalid_value("keyCredentials.type", "KeyCredential")
        password = secrets_by_id.pop(str(sign["keyId"]), None)
        if not isinstance(password, str) or not password:
            raise bad_request(
                "The Sign key's password must be a passwordCredential with the same keyId."
            )
        try:
            der = base64.b64decode(str(verify.get("key") or ""), validate=True)
            certificate = x509.load_der_x509_certificate(der)
            private_key, pfx_cert, _ = pkcs12.load_key_and_certificates(
                base64.b64decode(str(sign.get("key") or ""), validate=True), password.encode()
            )
        except (binascii.Error, ValueError, TypeError) as exc:
            raise bad_request(INVALID_CERTIFICATE) from exc
        if pfx_cert is None or pfx_cert != certificate or not isinstance(private_key, RSA_KEY):
            raise bad_request(INVALID_CERTIFICATE)
        uploaded.append(
            SigningCertificate(
                issued=Issued(certificate, private_key),
                display_name=str(verify.get("displayName") or certificate.subject.rfc4514_string()),
                verify_key_id=str(verify["keyId"]),
                sign_key_id=str(sign["keyId"]),
                start=certificate.not_valid_before_utc,
                end=certificate.not_valid_after_utc,
                uploaded_identifier=identifier,
            )
        )
    if secrets_by_id:
        raise bad_request("New password credentials must be generated using service actions.")
    return uploaded


def store_certificate(record: ServicePrincipalRecord, cert: SigningCertificate) -> None:
    """A signing certificate as Graph lists it: Verify and Sign keyCredentials and the
    password of the Sign key (keyCredentials' `key` is filled in only by a selecting GET)."""
    record.certificates.append(cert)
    common = {
        "customKeyIdentifier": cert.custom_key_identifier,
        "displayName": cert.display_name,
        "endDateTime": graph_time(cert.end),
        "key": None,
        "startDateTime": graph_time(cert.start),
    }
    record.data["keyCredentials"].extend(
        [
            {**common, "keyId": cert.verify_key_id, "type": "AsymmetricX509Cert"}
            | {"usage": "Verify"},
            {**common, "keyId": cert.sign_key_id, "type": "X509CertAndPassword"}
            | {"usage": "Sign"},
        ]
    )
    record.data["passwordCredentials"].append(
        {
            "customKeyIdentifier": cert.custom_key_identifier,
            "displayName": None,
            "endDateTime": graph_time(cert.end),
            "hint": None,
            "keyId": cert.sign_key_id,
            "secretText": None,
            "startDateTime": graph_time(cert.start),
        }
    )


def _service_principal_view(
    record: ServicePrincipalRecord, hidden: set[str], *, with_keys: bool
) -> JsonDict:
    """A service principal as one replica shows it: keys it has not seen left out, and the
    Verify keys' certificates when selected."""
    view = copy.deepcopy(record.data)
    certificates = {cert.verify_key_id: cert for cert in record.certificates}
    keys = [k for k in view.get("keyCredentials") or [] if k["keyId"] not in hidden]
    for key in keys:
        cert = certificates.get(key["keyId"])
        key["key"] = der_base64(cert.issued.cert) if with_keys and cert is not None else None
    view["keyCredentials"] = keys
    view["passwordCredentials"] = [
        c for c in view.get("passwordCredentials") or [] if c["keyId"] not in hidden
    ]
    return view
