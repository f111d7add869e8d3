"""The emulated tenant's objects as Graph-shaped JSON, plus what Graph keeps hidden (private
keys, replication lag counters), and the clock they are dated by."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ._pki import Issued, der_base64

JsonDict = dict[str, Any]

CUSTOM_APP_TEMPLATE_ID = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621"
# The app roles a non-gallery (custom SAML) application gets when instantiated.
USER_ROLE_ID = "18d14569-c3bd-439b-9a66-3a2aee01d14f"
MSIAM_ACCESS_ROLE_ID = "b9632174-c057-4f7e-951b-be3adc52bfe6"
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"
SAML_SP_TAGS = (
    "WindowsAzureActiveDirectoryCustomSingleSignOnApplication",
    "WindowsAzureActiveDirectoryIntegratedApp",
)
# Microsoft Graph's own service principal and the application permissions (app roles) of it
# that the deployer is granted; ids as Microsoft's permissions reference lists them.
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_APP_ROLES = (
    (
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Application.ReadWrite.All",
        "Read and write all applications",
    ),
    (
        "06b708a9-e830-4db3-a914-8e69da51d44f",
        "AppRoleAssignment.ReadWrite.All",
        "Manage app permission grants and app role assignments",
    ),
)
TEMPLATE_HOMEPAGE = (
    "https://account.activedirectory.windowsazure.com:444/applications/default.aspx"
    "?metadata=customappsso|ISV9.1|primary|z"
)


def graph_time(moment: dt.datetime) -> str:
    """Graph's timestamp format: UTC with a Z and no fraction."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


class Clock:
    """The emulator's notion of now, for certificate validity and object timestamps. Tokens
    use the real clock so a test that moves this one does not log the client out."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)
        self._fixed: dt.datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return dt.datetime.now(dt.UTC) + self._offset

    def set(self, moment: dt.datetime) -> None:
        """Freeze the clock at `moment` (timezone-aware)."""
        if moment.tzinfo is None:
            raise ValueError("Clock.set needs a timezone-aware datetime")
        with self._lock:
            self._fixed = moment.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._fixed = None
            self._offset = dt.timedelta(0)


@dataclass
class SigningCertificate:
    """A token signing certificate made by addTokenSigningCertificate (private part kept)."""

    issued: Issued
    display_name: str
    verify_key_id: str
    sign_key_id: str
    start: dt.datetime
    end: dt.datetime
    # An uploaded certificate's customKeyIdentifier is whatever the uploader chose.
    uploaded_identifier: str | None = None

    @property
    def thumbprint(self) -> str:
        return self.issued.thumbprint

    @property
    def custom_key_identifier(self) -> str:
        if self.uploaded_identifier is not None:
            return self.uploaded_identifier
        return base64.b64encode(bytes.fromhex(self.thumbprint)).decode("ascii")


@dataclass
class ServicePrincipalRecord:
    data: JsonDict
    certificates: list[SigningCertificate] = field(default_factory=list)
    assignments: dict[str, JsonDict] = field(default_factory=dict)
    # Federation metadata keeps serving `metadata_stale` (the signing certificates it listed,
    # base64 DER) for this many more fetches; () stands for the tenant's default certificate.
    metadata_stale_fetches: int = 0
    metadata_stale: tuple[str, ...] = ()
    # ... and until this time.monotonic() instant (time-based metadata lag).
    metadata_stale_until: float = 0.0
    # Microsoft's own service principals (Microsoft Graph): present in every tenant, owned by
    # Microsoft, left out of `EntraEmulator.service_principals()`.
    first_party: bool = False

    def certificate(self, thumbprint: str | None) -> SigningCertificate | None:
        if not thumbprint:
            return None
        for cert in self.certificates:
            if cert.thumbprint == thumbprint.upper():
                return cert
        return None

    def published(self) -> tuple[SigningCertificate, ...]:
        """The signing certificates the app federation metadata lists: all of them, active
        or not (Entra publishes inactive ones by design: MicrosoftDocs/azure-docs#111432),
        the active one first."""
        active = (self.data.get("preferredTokenSigningKeyThumbprint") or "").upper()
        return tuple(sorted(self.certificates, key=lambda cert: cert.thumbprint != active))

    def published_der(self) -> tuple[str, ...]:
        return tuple(der_base64(cert.issued.cert) for cert in self.published())

    def metadata_changed(self, before: tuple[str, ...], fetches: int, seconds: float) -> None:
        """With a metadata lag configured, keep serving `before` (what was listed before
        this change, or before the first change of a burst) for a while."""
        if self.published_der() == before or (fetches <= 0 and seconds <= 0):
            return
        now = time.monotonic()
        if self.metadata_stale_fetches == 0 and self.metadata_stale_until <= now:
            self.metadata_stale = before
        self.metadata_stale_fetches = fetches
        self.metadata_stale_until = now + seconds if seconds > 0 else 0.0


@dataclass
class Principal:
    """A user or group that app roles can be assigned to."""

    kind: str  # "User" or "Group"
    data: JsonDict


@dataclass
class Directory:
    """Everything in the tenant, guarded by one lock held for a whole Graph operation."""

    tenant_id: str
    domain: str
    clock: Clock
    lock: threading.RLock = field(default_factory=threading.RLock)
    applications: dict[str, JsonDict] = field(default_factory=dict)
    deleted_applications: dict[str, JsonDict] = field(default_factory=dict)
    service_principals: dict[str, ServicePrincipalRecord] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    group_members: dict[str, list[str]] = field(default_factory=dict)  # group id -> member ids
    # The deployer app registration the handler signs in as: not listed with `applications`
    # (the handler's queries never find it), but it holds federated identity credentials.
    deployer_application: JsonDict = field(default_factory=dict)
    # Object id -> requests by id still to answer 404 (replication lag).
    lagging: dict[str, int] = field(default_factory=dict)
    # Objects still lagging that collection queries do not list either.
    hidden_from_lists: set[str] = field(default_factory=set)
    # Object id -> time.monotonic() instant until which requests by id answer 404.
    lagging_until: dict[str, float] = field(default_factory=dict)
    replication_lag_requests: int = 0
    replication_lag_seconds: float = 0.0
    replication_lag_lists: bool = False
    metadata_lag_fetches: int = 0
    metadata_lag_seconds: float = 0.0

    # -- creation ----------------------------------------------------------------------------

    def created(self, object_id: str) -> None:
        """Start the replication lag of a new object, if one is configured."""
        if self.replication_lag_requests > 0:
            self.lagging[object_id] = self.replication_lag_requests
            if self.replication_lag_lists:
                self.hidden_from_lists.add(object_id)
        if self.replication_lag_seconds > 0:
            self.lagging_until[object_id] = time.monotonic() + self.replication_lag_seconds
            if self.replication_lag_lists:
                self.hidden_from_lists.add(object_id)

    def _expire(self, object_id: str) -> bool:
        """Whether the time-based lag of `object_id` is over (forgetting it once it is)."""
        until = self.lagging_until.get(object_id)
        if until is None:
            return True
        if time.monotonic() < until:
            return False
        del self.lagging_until[object_id]
        if object_id not in self.lagging:
            self.hidden_from_lists.discard(object_id)
        return True

    def reached(self, object_id: str) -> bool:
        """Whether a request addressed to `object_id` sees it (and count the request)."""
        if not self._expire(object_id):
            return False
        remaining = self.lagging.get(object_id, 0)
        if remaining <= 0:
            return True
        if remaining == 1:
            del self.lagging[object_id]
            if object_id not in self.lagging_until:
                self.hidden_from_lists.discard(object_id)
        else:
            self.lagging[object_id] = remaining - 1
        return False

    def listed(self, object_id: str) -> bool:
        self._expire(object_id)
        return object_id not in self.hidden_from_lists

    def instantiate(self, display_name: str, *, lag: bool = True) -> tuple[JsonDict, JsonDict]:
        now = self.clock.now()
        app_id = new_id()
        roles = _template_app_roles()
        application = new_application(
            object_id=new_id(),
            app_id=app_id,
            display_name=display_name,
            created=now,
            publisher_domain=self.domain,
            app_roles=roles,
        )
        service_principal = new_service_principal(
            object_id=new_id(),
            app_id=app_id,
            display_name=display_name,
            tenant_id=self.tenant_id,
            app_roles=copy.deepcopy(roles),
        )
        self.applications[application["id"]] = application
        self.service_principals[service_principal["id"]] = ServicePrincipalRecord(service_principal)
        if lag:
            self.created(application["id"])
            self.created(service_principal["id"])
        return application, service_principal

    def seed_microsoft_graph(self) -> ServicePrincipalRecord:
        """Microsoft Graph's service principal, as every tenant has it (its app roles are the
        application permissions admins grant)."""
        roles = [
            {
                "allowedMemberTypes": ["Application"],
                "description": f"Allows the app to {display.lower()} without a signed-in user.",
                "displayName": display,
                "id": role_id,
                "isEnabled": True,
                "origin": "Application",
                "value": value,
            }
            for role_id, value, display in GRAPH_APP_ROLES
        ]
        data = new_service_principal(
            object_id=new_id(),
            app_id=MICROSOFT_GRAPH_APP_ID,
            display_name="Microsoft Graph",
            tenant_id="f8cdef31-a31e-4b4a-93e4-5f571e91255a",  # Microsoft Services
            app_roles=roles,
        )
        data.update(
            applicationTemplateId=None,
            appRoleAssignmentRequired=False,
            homepage=None,
            servicePrincipalNames=[MICROSOFT_GRAPH_APP_ID, "https://graph.microsoft.com"],
            signInAudience="AzureADMultipleOrgs",
            tags=[],
        )
        record = ServicePrincipalRecord(data, first_party=True)
        self.service_principals[data["id"]] = record
        return record

    def create_application(self, display_name: str, changes: JsonDict) -> JsonDict:
        """An app registration as `POST /applications` makes it (no template, no service
        principal), with `changes` applied; replication lag applies."""
        application = new_application(
            object_id=new_id(),
            app_id=new_id(),
            display_name=display_name,
            created=self.clock.now(),
            publisher_domain=self.domain,
            app_roles=[],
        )
        application["applicationTemplateId"] = None
        application["web"]["homePageUrl"] = None
        application.update(copy.deepcopy(changes))
        self.applications[application["id"]] = application
        self.created(application["id"])
        return application

    def create_service_principal(self, application: JsonDict) -> JsonDict:
        """The service principal `POST /servicePrincipals {appId}` makes for an app."""
        data = new_service_principal(
            object_id=new_id(),
            app_id=application["appId"],
            display_name=application["displayName"],
            tenant_id=self.tenant_id,
            app_roles=copy.deepcopy(application.get("appRoles") or []),
        )
        data.update(
            applicationTemplateId=application.get("applicationTemplateId"),
            appRoleAssignmentRequired=False,
            homepage=None,
            tags=list(application.get("tags") or []),
        )
        self.service_principals[data["id"]] = ServicePrincipalRecord(data)
        self.created(data["id"])
        self.sync_service_principal(application)
        return data

    # -- lookups -----------------------------------------------------------------------------

    def sp_for_app(self, app_id: str) -> ServicePrincipalRecord | None:
        for record in self.service_principals.values():
            if record.data["appId"] == app_id:
                return record
        return None

    def app_by_unique_name(self, unique_name: str) -> JsonDict | None:
        for application in self.applications.values():
            if (application.get("uniqueName") or "").casefold() == unique_name.casefold():
                return application
        return None

    def deleted_app_by_unique_name(self, unique_name: str) -> JsonDict | None:
        for application in self.deleted_applications.values():
            if (application.get("uniqueName") or "").casefold() == unique_name.casefold():
                return application
        return None

    def app_by_app_id(self, app_id: str) -> JsonDict | None:
        for application in self.applications.values():
            if application["appId"] == app_id:
                return application
        return None

    def federated_identity_credentials(self, app_id: str) -> list[JsonDict]:
        """The `federatedIdentityCredentials` list of the application with `app_id` (the
        deployer app included), as Graph's /applications/{id}/federatedIdentityCredentials
        shows it: [{"name", "issuer", "subject", "audiences", "description"}]."""
        application = self.app_by_app_id(app_id)
        if application is None and self.deployer_application.get("appId") == app_id:
            application = self.deployer_application
        if application is None:
            return []
        records: list[JsonDict] = application.setdefault("federatedIdentityCredentials", [])
        return records

    def identifier_uri_holders(self, uris: list[str], except_id: str) -> list[str]:
        """Ids of live or soft-deleted applications already holding one of `uris`."""
        wanted = {uri.casefold() for uri in uris}
        holders: list[str] = []
        for pool in (self.applications, self.deleted_applications):
            for object_id, application in pool.items():
                if object_id == except_id:
                    continue
                held = {uri.casefold() for uri in application.get("identifierUris") or []}
                if held & wanted:
                    holders.append(object_id)
        return holders

    def sync_service_principal(self, application: JsonDict) -> None:
        """Copy what Entra mirrors from an application onto its service principal."""
        record = self.sp_for_app(application["appId"])
        if record is None:
            return
        web = application.get("web") or {}
        record.data["appDisplayName"] = application.get("displayName")
        record.data["replyUrls"] = list(web.get("redirectUris") or [])
        record.data["servicePrincipalNames"] = [
            *(application.get("identifierUris") or []),
            application["appId"],
        ]

    def soft_delete_application(self, object_id: str) -> None:
        application = self.applications.pop(object_id)
        application["deletedDateTime"] = graph_time(self.clock.now())
        self.deleted_applications[object_id] = application
        record = self.sp_for_app(application["appId"])
        if record is not None:
            del self.service_principals[record.data["id"]]


def _template_app_roles() -> list[JsonDict]:
    return [
        {
            "allowedMemberTypes": ["User"],
            "description": "User",
            "displayName": "User",
            "id": USER_ROLE_ID,
            "isEnabled": True,
            "origin": "Application",
            "value": None,
        },
        {
            "allowedMemberTypes": ["User"],
            "description": "msiam_access",
            "displayName": "msiam_access",
            "id": MSIAM_ACCESS_ROLE_ID,
            "isEnabled": True,
            "origin": "Application",
            "value": None,
        },
    ]


def new_application(
    *,
    object_id: str,
    app_id: str,
    display_name: str,
    created: dt.datetime,
    publisher_domain: str,
    app_roles: list[JsonDict],
) -> JsonDict:
    """An application as `GET /applications/{id}` shows one made from the custom template."""
    return {
        "id": object_id,
        "deletedDateTime": None,
        "appId": app_id,
        "applicationTemplateId": CUSTOM_APP_TEMPLATE_ID,
        "disabledByMicrosoftStatus": None,
        "createdDateTime": graph_time(created),
        "displayName": display_name,
        "description": None,
        "groupMembershipClaims": None,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None,
        "nativeAuthenticationApisEnabled": None,
        "notes": None,
        "publisherDomain": publisher_domain,
        "serviceManagementReference": None,
        "signInAudience": "AzureADMyOrg",
        "tags": [],
        "tokenEncryptionKeyId": None,
        "uniqueName": None,
        "samlMetadataUrl": None,
        "defaultRedirectUri": None,
        "certification": None,
        "optionalClaims": None,
        "requestSignatureVerification": None,
        "addIns": [],
        "api": {
            "acceptMappedClaims": None,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": None,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": app_roles,
        "info": {
            "logoUrl": None,
            "marketingUrl": None,
            "privacyStatementUrl": None,
            "supportUrl": None,
            "termsOfServiceUrl": None,
        },
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {
            "displayName": None,
            "verifiedPublisherId": None,
            "addedDateTime": None,
        },
        "web": {
            "homePageUrl": TEMPLATE_HOMEPAGE,
            "logoutUrl": None,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": False,
                "enableIdTokenIssuance": False,
            },
            "redirectUriSettings": [],
        },
        "spa": {"redirectUris": []},
    }


def new_service_principal(
    *,
    object_id: str,
    app_id: str,
    display_name: str,
    tenant_id: str,
    app_roles: list[JsonDict],
) -> JsonDict:
    """A service principal as `GET /servicePrincipals/{id}` shows one made by instantiate."""
    return {
        "id": object_id,
        "deletedDateTime": None,
        "accountEnabled": True,
        "alternativeNames": [],
        "appDisplayName": display_name,
        "appDescription": None,
        "appId": app_id,
        "applicationTemplateId": CUSTOM_APP_TEMPLATE_ID,
        "appOwnerOrganizationId": tenant_id,
        "appRoleAssignmentRequired": True,
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": display_name,
        "homepage": TEMPLATE_HOMEPAGE,
        "loginUrl": None,
        "logoutUrl": None,
        "notes": None,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": [],
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMyOrg",
        "tags": list(SAML_SP_TAGS),
        "tokenEncryptionKeyId": None,
        "samlSingleSignOnSettings": None,
        "addIns": [],
        "appRoles": app_roles,
        "info": {
            "logoUrl": None,
            "marketingUrl": None,
            "privacyStatementUrl": None,
            "supportUrl": None,
            "termsOfServiceUrl": None,
        },
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {
            "displayName": None,
            "verifiedPublisherId": None,
            "addedDateTime": None,
        },
    }


def assignment_id(principal_id: str) -> str:
    """Graph's appRoleAssignment ids are 43 base64url characters, not GUIDs."""
    raw = uuid.UUID(principal_id).bytes_le + secrets.token_bytes(16)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
