"""Typed views of the custom resource's properties and of the request that carries them.

CloudFormation hands every property over as a string (lists as lists of string maps), so
each value is parsed here once and the rest of the package works with these types only.
Unknown properties are ignored so that templates deployed by earlier versions keep working.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from entra_saml_app.errors import ProvisioningError

RequestType = Literal["Create", "Update", "Delete"]
PrincipalType = Literal["User", "Group"]
GroupMembershipClaims = Literal["None", "SecurityGroup", "All", "ApplicationGroup", "DirectoryRole"]

# The values Entra accepts for application.groupMembershipClaims (app manifest reference).
# "None" is also what an absent property means, so events from earlier versions converge to it.
GROUP_MEMBERSHIP_CLAIMS = cast(tuple[GroupMembershipClaims, ...], get_args(GroupMembershipClaims))

DEFAULT_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"  # Entra's recommended audience
DEFAULT_CERTIFICATE_YEARS = 3
MAX_CERTIFICATE_YEARS = 3  # addTokenSigningCertificate refuses an endDateTime beyond 3 years

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
_MARKER_PREFIX = "cognito-entra-sso:"

RELAY_STATE_RESOURCE_TYPE = "Custom::EntraSamlRelayState"
_RELAY_STATE_SUFFIX = "/relay-state"


def is_guid(value: str | None) -> bool:
    return bool(value) and bool(_GUID.match(value or ""))


class PropertyError(ProvisioningError):
    """A resource property has a value the handler cannot use."""

    def __init__(self, name: str, value: object, rule: str) -> None:
        super().__init__(f"Property {name}={value!r} is invalid: {rule}.")


@dataclass(frozen=True)
class Federation:
    """Secretless sign-in: the deployer app registration (`client_id`) trusts AWS STS web
    identity tokens issued for `audience` through a federated identity credential."""

    client_id: str
    audience: str = DEFAULT_FEDERATION_AUDIENCE


@dataclass(frozen=True)
class Principal:
    principal_id: str
    principal_type: PrincipalType


@dataclass(frozen=True)
class AppProperties:
    tenant_id: str
    display_name: str
    identifier_uri: str
    reply_url: str
    logout_url: str | None
    credentials_secret_arn: str | None
    assignments: tuple[Principal, ...] = ()
    assignment_required: bool = True
    notes: str | None = None
    retain_on_delete: bool = False
    certificate_validity_years: int = DEFAULT_CERTIFICATE_YEARS
    group_membership_claims: GroupMembershipClaims = "None"
    federation: Federation | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> AppProperties:
        secret_arn, federation = _credential_source(raw)
        return cls(
            tenant_id=_tenant(raw),
            display_name=_required(raw, "DisplayName"),
            identifier_uri=_required(raw, "IdentifierUri"),
            reply_url=_https_url(raw, "ReplyUrl", required=True) or "",
            logout_url=_https_url(raw, "LogoutUrl", required=False),
            credentials_secret_arn=secret_arn,
            assignments=_assignments(raw.get("Assignments")),
            assignment_required=_bool(raw, "AssignmentRequired", default=True),
            notes=_optional(raw, "Notes"),
            retain_on_delete=_bool(raw, "RetainOnDelete", default=False),
            certificate_validity_years=_years(raw),
            group_membership_claims=_group_membership_claims(raw),
            federation=federation,
        )

    @property
    def principal_ids(self) -> frozenset[str]:
        return frozenset(p.principal_id for p in self.assignments)


@dataclass(frozen=True)
class Owner:
    """Who owns an Entra application: one resource of one CloudFormation stack.

    `tag` goes on the application; `pending_name` is the display name an application
    carries from `instantiate` until it is tagged, so that it is recognisable as ours at
    every instant of its life (see service.py).
    """

    stack_id: str
    logical_id: str

    @property
    def digest(self) -> str:
        # The stack's ARN without its trailing UUID: a stack deleted after a crashed first
        # Create and deployed again under the same name finds (and adopts) what it left.
        stable = self.stack_id.rsplit("/", 1)[0] if self.stack_id.count("/") >= 2 else self.stack_id
        return hashlib.sha256(f"{stable}|{self.logical_id}".encode()).hexdigest()[:40]

    @property
    def tag(self) -> str:
        return f"{_MARKER_PREFIX}{self.digest}"

    @property
    def pending_name(self) -> str:
        return f"cognito-entra-sso pending {self.digest}"

    @property
    def provenance(self) -> str:
        stack_name = self.stack_id.split("/")[1] if self.stack_id.count("/") >= 2 else "?"
        return (
            f"Managed by AWS CloudFormation stack {stack_name}, resource {self.logical_id} "
            f"({self.stack_id}). Changes made here are overwritten by the next deployment."
        )[:1024]


@dataclass(frozen=True)
class Request:
    request_type: RequestType
    owner: Owner
    physical_id: str | None
    properties: AppProperties
    old_properties: AppProperties | None = None
    old_tenant_id: str | None = field(default=None)

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Request:
        request_type = event.get("RequestType")
        if request_type not in ("Create", "Update", "Delete"):
            raise ProvisioningError(f"Unsupported RequestType {request_type!r}.")
        raw_old = event.get("OldResourceProperties")
        return cls(
            request_type=cast(RequestType, request_type),
            owner=Owner(stack_id=str(event["StackId"]), logical_id=str(event["LogicalResourceId"])),
            physical_id=event.get("PhysicalResourceId"),
            properties=AppProperties.parse(event.get("ResourceProperties") or {}),
            old_properties=_lenient(raw_old),
            old_tenant_id=str(raw_old["TenantId"]) if raw_old and "TenantId" in raw_old else None,
        )


def _lenient(raw: Mapping[str, Any] | None) -> AppProperties | None:
    """Old properties were valid when deployed; a rule added since must not block updates."""
    if not raw:
        return None
    try:
        return AppProperties.parse(raw)
    except ProvisioningError:
        return None


def _optional(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _required(raw: Mapping[str, Any], name: str) -> str:
    value = _optional(raw, name)
    if value is None:
        raise PropertyError(name, raw.get(name), "it is required")
    return value


def _tenant(raw: Mapping[str, Any]) -> str:
    value = _required(raw, "TenantId")
    if is_guid(value):
        return value.lower()
    if _DOMAIN.match(value):
        return value.lower()
    raise PropertyError("TenantId", value, "expected a tenant GUID or a verified domain name")


def _https_url(raw: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = _required(raw, name) if required else _optional(raw, name)
    if value is not None and not value.lower().startswith("https://"):
        raise PropertyError(name, value, "Entra accepts only https:// URLs here")
    return value


def _credential_source(raw: Mapping[str, Any]) -> tuple[str | None, Federation | None]:
    """Exactly one of CredentialsSecretArn (a stored secret) and FederatedClientId (with
    an optional FederationAudience: secretless)."""
    client_id = _optional(raw, "FederatedClientId")
    if client_id is None:
        return _secret_arn(raw), None
    if _optional(raw, "CredentialsSecretArn") is not None:
        raise PropertyError(
            "CredentialsSecretArn",
            raw.get("CredentialsSecretArn"),
            "give either CredentialsSecretArn or FederatedClientId, not both",
        )
    if not is_guid(client_id):
        raise PropertyError(
            "FederatedClientId", client_id, "expected the deployer app registration's client id"
        )
    audience = _optional(raw, "FederationAudience") or DEFAULT_FEDERATION_AUDIENCE
    return None, Federation(client_id.lower(), audience)


def _secret_arn(raw: Mapping[str, Any]) -> str:
    value = _optional(raw, "CredentialsSecretArn")
    if value is None:
        raise PropertyError(
            "CredentialsSecretArn",
            raw.get("CredentialsSecretArn"),
            "it is required (or FederatedClientId, for federated credentials)",
        )
    if not _SECRET_ARN.match(value):
        raise PropertyError("CredentialsSecretArn", value, "expected a Secrets Manager secret ARN")
    return value


def _bool(raw: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = raw.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise PropertyError(name, value, "expected 'true' or 'false'")


def _years(raw: Mapping[str, Any]) -> int:
    value = _optional(raw, "CertificateValidityYears")
    if value is None:
        return DEFAULT_CERTIFICATE_YEARS
    if not value.isdigit() or not 1 <= int(value) <= MAX_CERTIFICATE_YEARS:
        raise PropertyError(
            "CertificateValidityYears", value, f"expected a whole number 1-{MAX_CERTIFICATE_YEARS}"
        )
    return int(value)


def _group_membership_claims(raw: Mapping[str, Any]) -> GroupMembershipClaims:
    value = _optional(raw, "GroupMembershipClaims")
    if value is None:
        return "None"
    for allowed in GROUP_MEMBERSHIP_CLAIMS:
        if value.casefold() == allowed.casefold():
            return allowed
    raise PropertyError(
        "GroupMembershipClaims", value, f"expected one of {', '.join(GROUP_MEMBERSHIP_CLAIMS)}"
    )


def _assignments(value: Any) -> tuple[Principal, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise PropertyError("Assignments", value, "expected a JSON list") from None
    if not isinstance(value, list):
        raise PropertyError("Assignments", value, "expected a list")
    principals: dict[str, Principal] = {}
    for item in value:
        principal = _principal(item)
        principals.setdefault(principal.principal_id, principal)
    return tuple(principals.values())


def _principal(item: Any) -> Principal:
    if not isinstance(item, Mapping):
        raise PropertyError("Assignments", item, 'expected {"PrincipalId", "PrincipalType"}')
    principal_id = str(item.get("PrincipalId") or item.get("principalId") or "")
    kind = str(item.get("PrincipalType") or item.get("principalType") or "User").capitalize()
    if not is_guid(principal_id):
        raise PropertyError("Assignments[].PrincipalId", principal_id, "expected an object id GUID")
    if kind not in ("User", "Group"):
        raise PropertyError("Assignments[].PrincipalType", kind, "expected 'User' or 'Group'")
    return Principal(principal_id.lower(), cast(PrincipalType, kind))


# -- Custom::EntraSamlRelayState -------------------------------------------------------------


@dataclass(frozen=True)
class RelayStateProperties:
    """The relay state Entra sends with IdP-initiated sign-in, for one service principal."""

    tenant_id: str
    service_principal_id: str
    relay_state: str | None
    credentials_secret_arn: str | None
    federation: Federation | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, require_relay_state: bool) -> RelayStateProperties:
        relay_state = _optional(raw, "RelayState")
        if require_relay_state and relay_state is None:
            raise PropertyError(
                "RelayState",
                raw.get("RelayState"),
                "it is required (delete the resource to clear it)",
            )
        secret_arn, federation = _credential_source(raw)
        return cls(
            tenant_id=_tenant(raw),
            service_principal_id=_service_principal_id(raw),
            relay_state=relay_state,
            credentials_secret_arn=secret_arn,
            federation=federation,
        )

    @property
    def physical_id(self) -> str:
        return relay_state_physical_id(self.service_principal_id)


def relay_state_physical_id(service_principal_id: str) -> str:
    return f"{service_principal_id}{_RELAY_STATE_SUFFIX}"


def relay_state_target(physical_id: str | None) -> str | None:
    """The service principal id a relay-state physical id names, or None for any other id
    (such as the Provider framework's marker for a failed Create)."""
    head, _, tail = (physical_id or "").partition("/")
    return head.lower() if is_guid(head) and f"/{tail}" == _RELAY_STATE_SUFFIX else None


@dataclass(frozen=True)
class RelayStateRequest:
    request_type: RequestType
    logical_id: str
    physical_id: str | None
    properties: RelayStateProperties

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> RelayStateRequest:
        request_type = event.get("RequestType")
        if request_type not in ("Create", "Update", "Delete"):
            raise ProvisioningError(f"Unsupported RequestType {request_type!r}.")
        raw = event.get("ResourceProperties") or {}
        return cls(
            request_type=cast(RequestType, request_type),
            logical_id=str(event.get("LogicalResourceId", "")),
            physical_id=event.get("PhysicalResourceId"),
            properties=RelayStateProperties.parse(
                raw, require_relay_state=request_type != "Delete"
            ),
        )


def _service_principal_id(raw: Mapping[str, Any]) -> str:
    value = _required(raw, "ServicePrincipalId")
    if not is_guid(value):
        raise PropertyError(
            "ServicePrincipalId",
            value,
            "expected the service principal's object id GUID "
            "(the Custom::EntraSamlApplication resource's Data.ServicePrincipalId)",
        )
    return value.lower()
