"""The environment config file: `config/<env>.yaml`, loaded into one validated model.

Every rule here runs twice: at synth (through `load_config`) and from
`mobile-sso config validate FILE`. A failure names the file, the key path, the bad
value and the rule, so a typo never reaches CloudFormation.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# The repository's config/: the last place `load_config` looks (app.py and `cdk synth` run
# from the repository, where ./config is this same directory).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
CONFIG_DIR_OPTION = "--config-dir"
CONFIG_DIR_VARIABLE = "MOBILE_SSO_CONFIG_DIR"

# Cognito's documented limits for app clients.
MAX_URL_LENGTH = 1024
MAX_URLS = 100  # per list, per client
MAX_IDPS_PER_POOL = 300  # Cognito's default quota of identity providers per user pool
MAX_IDP_IDENTIFIERS = 50  # identifiers (email domains) per identity provider
# CloudFormation's registry schemas (cfn-lint 1.58.0, cfnlint/data/schemas/resources/): the
# floor of every rule below that guards a template property (docs/FIDELITY.md).
MAX_IDP_IDENTIFIER_LENGTH = 40  # UserPoolIdentityProvider.IdpIdentifiers items
MAX_IDP_NAME_LENGTH = 32  # UserPoolIdentityProvider.ProviderName
MAX_CLIENT_SCOPES = 50  # UserPoolClient.AllowedOAuthScopes maxItems
MAX_SCOPE_LENGTH = 256  # UserPoolClient.AllowedOAuthScopes items
MAX_DOMAIN_LENGTH = 63  # UserPoolDomain.Domain maxLength, custom domains included
MAX_TAGS = 50  # IAM::Role and CloudWatch::Alarm Tags maxItems
MAX_RESOURCE_SERVER_SCOPES = 100  # UserPoolResourceServer.Scopes maxItems
MAX_RESOURCE_SERVERS = 25  # Cognito's quota of resource servers per user pool
STANDARD_SCOPES = ("openid", "email", "phone", "profile", "aws.cognito.signin.user.admin")
SCOPES_NEEDING_OPENID = ("email", "phone", "profile")

# Entra ID's SAML claim URIs (the defaults of a new enterprise application).
ENTRA_EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
# Entra's group claims: group object ids, and the Graph link sent instead above 150 groups.
ENTRA_GROUPS_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ENTRA_OVERAGE_CLAIM = "http://schemas.microsoft.com/claims/groups.link"
# The user pool's custom attributes (custom:<name>) those two claims are mapped to.
GROUPS_ATTRIBUTE = "groups"
OVERAGE_ATTRIBUTE = "groups_overage"
ENTRA_CLOUDS = ("global", "usgov", "usgov-dod", "china")
# Names Cognito keeps for its own and the social providers.
RESERVED_IDP_NAMES = ("cognito", "google", "facebook", "loginwithamazon", "signinwithapple")


class ConfigError(Exception):
    """A config file that cannot be used; `problems` holds one line per finding."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


def _rule(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _outside(value: str, categories: str, extra: str = "") -> list[str]:
    """The characters of `value` whose Unicode general category (L, M, N, P, S, Z, C: the
    `\\p{..}` classes of the registry schemas' patterns) is not in `categories`, nor in `extra`."""
    return sorted(
        {ch for ch in value if unicodedata.category(ch)[0] not in categories and ch not in extra}
    )


def _shown(chars: list[str]) -> str:
    return ", ".join(repr(ch) for ch in chars)


# --- field rules -----------------------------------------------------------------

_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED_IN_PREFIX = ("aws", "amazon", "cognito")


def _domain_prefix(value: str) -> str:
    if not _DOMAIN_PREFIX.fullmatch(value):
        raise _rule(
            "domain_prefix",
            "a Cognito domain prefix is 1-63 characters of lowercase letters, digits and "
            "hyphens, and neither starts nor ends with a hyphen",
        )
    reserved = [word for word in _RESERVED_IN_PREFIX if word in value]
    if reserved:
        raise _rule(
            "domain_prefix_reserved",
            f"a Cognito domain prefix must not contain {', '.join(map(repr, reserved))} "
            "(Cognito reserves 'aws', 'amazon' and 'cognito')",
        )
    return value


_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise _rule("region", "an AWS region looks like 'eu-west-1' or 'us-gov-west-1'")
    return value


def _account(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise _rule(
            "account", "an AWS account id is exactly 12 digits (quote it in YAML: '012345678901')"
        )
    return value


_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
# Schemes that run code or read files in a browser: never a redirect target.
_UNSAFE_SCHEMES = ("javascript", "data", "file", "vbscript", "about", "blob")


def is_loopback_url(value: str) -> bool:
    """Whether `value` is an http(s) URL on this machine's loopback interface (RFC 8252 7.3)."""
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and (parts.hostname or "") in _LOOPBACK_HOSTS


def _redirect_url(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise _rule(
            "url_length",
            f"URL is {len(value)} characters; Cognito accepts at most {MAX_URL_LENGTH}",
        )
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if not scheme or not _URL_SCHEME.fullmatch(scheme):
        raise _rule(
            "url_scheme",
            "URL must be absolute: https://..., http://localhost... or a custom app scheme "
            "such as myapp://callback",
        )
    if parts.fragment or "#" in value:
        raise _rule("url_fragment", "URL must not contain a fragment ('#...'); Cognito refuses it")
    if any(ch.isspace() for ch in value):
        raise _rule("url_whitespace", "URL must not contain whitespace")
    invisible = _outside(value, "LMNPS")
    if invisible:
        # UserPoolClient CallbackURLs/LogoutURLs items: ^[\p{L}\p{M}\p{S}\p{N}\p{P}]+$
        raise _rule(
            "url_character",
            f"URL must not contain control or invisible characters ({_shown(invisible)}); "
            "Cognito accepts only letters, marks, digits, punctuation and symbols",
        )
    if scheme == "http":
        if (parts.hostname or "") not in _LOOPBACK_HOSTS:
            raise _rule(
                "url_http",
                "http is allowed only for localhost; use https, or a custom app scheme such "
                "as myapp://callback",
            )
    elif scheme == "https":
        if not parts.hostname:
            raise _rule("url_host", "https URL has no host")
    elif scheme in _UNSAFE_SCHEMES:
        raise _rule("url_unsafe_scheme", f"the scheme '{scheme}:' is not a redirect target")
    elif not parts.netloc and not parts.path:
        raise _rule("url_empty", "custom-scheme URL needs something after the scheme")
    return value


_SCOPE = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")


def _scope(value: str) -> str:
    if value in STANDARD_SCOPES:
        return value
    if "/" in value and len(value) > MAX_SCOPE_LENGTH:
        raise _rule(
            "scope_length",
            f"scope is {len(value)} characters; Cognito accepts at most {MAX_SCOPE_LENGTH} "
            "('identifier/name' together)",
        )
    if "/" in value and _SCOPE.fullmatch(value):
        return value  # a resource-server scope: "<identifier>/<scope name>"; see resource_servers
    close = difflib.get_close_matches(value, STANDARD_SCOPES, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise _rule(
        "scope",
        f"unknown scope{hint}; use one of {', '.join(STANDARD_SCOPES)} or a resource-server "
        "scope 'identifier/name'",
    )


_CLIENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,47}$")


def _client_name(value: str) -> str:
    if not _CLIENT_NAME.fullmatch(value) or value.endswith("-") or "--" in value:
        raise _rule(
            "client_name",
            "a client name is 1-48 lowercase letters, digits and single hyphens, starting "
            "with a letter (it names the stack outputs, e.g. 'ios' -> ClientIosId)",
        )
    return value


_ACM_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$"
)


def _certificate_arn(value: str) -> str:
    match = _ACM_ARN.fullmatch(value)
    if not match:
        raise _rule(
            "certificate_arn",
            "expected an ACM certificate ARN: arn:aws:acm:us-east-1:<account>:certificate/<id>",
        )
    if match["region"] != "us-east-1":
        raise _rule(
            "certificate_region",
            "Cognito custom domains need an ACM certificate in us-east-1 (it is served by "
            f"CloudFront), not {match['region']}",
        )
    return value


_FQDN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domain_name(value: str) -> str:
    if not _FQDN.fullmatch(value):
        raise _rule(
            "domain_name",
            "expected a lowercase fully qualified domain name such as auth.example.com "
            "(no scheme, no path)",
        )
    return value


def _custom_domain_name(value: str) -> str:
    if len(value) > MAX_DOMAIN_LENGTH:
        raise _rule(
            "domain_name_length",
            f"domain name is {len(value)} characters; a Cognito user pool domain is at most "
            f"{MAX_DOMAIN_LENGTH}",
        )
    return value


# Tag keys and values on IAM roles: ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$ (the strictest of the
# stack's taggable resources); values of a state machine or an alarm are at least 1 character.
_TAG_CATEGORIES = "LZN"
_TAG_PUNCTUATION = "_.:/=+-@"


def _tags(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_TAGS:
        raise _rule(
            "tag_count",
            f"{len(value)} tags; AWS resources (IAM roles, alarms) take at most {MAX_TAGS}",
        )
    for key, tag_value in value.items():
        if (
            not 1 <= len(key) <= 128
            or _outside(key, _TAG_CATEGORIES, _TAG_PUNCTUATION)
            or key.lower().startswith("aws:")
        ):
            raise _rule(
                "tag_key",
                f"tag key {key!r}: 1-128 letters, digits, spaces and _.:/=+-@, not starting "
                "with 'aws:'",
            )
        if len(tag_value) > 256:
            raise _rule("tag_value", f"tag {key!r}: value longer than 256 characters")
        if not tag_value:
            raise _rule(
                "tag_value",
                f"tag {key!r}: empty value; Step Functions and CloudWatch alarms need at least "
                "1 character",
            )
        refused = _outside(tag_value, _TAG_CATEGORIES, _TAG_PUNCTUATION)
        if refused:
            raise _rule(
                "tag_value",
                f"tag {key!r}: AWS tag values are letters, digits, spaces and _.:/=+-@ only; "
                f"not {_shown(refused)}",
            )
    return value


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _guid(value: str) -> str:
    if not _GUID.fullmatch(value):
        raise _rule(
            "guid",
            "expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra shows it as "
            "the Directory (tenant) ID or Object ID)",
        )
    return value


def _idp_name(value: str) -> str:
    # UserPoolIdentityProvider.ProviderName: 1-32 characters matching
    # ^[^_\p{Z}][\p{L}\p{M}\p{S}\p{N}\p{P}][^_\p{Z}]+$ (so at least 3). Stricter here:
    # every character a letter, mark, digit, symbol or punctuation (the pattern lets control
    # characters through), a length in UTF-16 units as Java counts it, and no ',' (the list
    # separator of the stack outputs).
    units = len(value.encode("utf-16-le")) // 2
    if len(value) < 3 or units > MAX_IDP_NAME_LENGTH:
        raise _rule(
            "idp_name",
            f"a Cognito identity provider name is 3-{MAX_IDP_NAME_LENGTH} characters "
            "(emoji and other characters beyond U+FFFF count twice)",
        )
    invisible = _outside(value, "LMNPS")
    if invisible:
        raise _rule(
            "idp_name",
            "Cognito identity provider names may not contain spaces or other invisible "
            f"characters ({_shown(invisible)}); write 'ContosoEU' or 'Contoso-EU'",
        )
    if "_" in value[:1] + value[2:]:
        raise _rule(
            "idp_name",
            "Cognito identity provider names may contain '_' only as the second character; "
            "use '-' instead",
        )
    if "," in value:
        raise _rule(
            "idp_name",
            "an identity provider name may not contain ',': it separates the names in the "
            "stack outputs",
        )
    if value.lower() in RESERVED_IDP_NAMES:
        raise _rule("idp_name_reserved", f"Cognito reserves the provider name {value!r}")
    return value


_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_SECRET_NAME = re.compile(r"^[\w/+=.@-]{1,512}$")


def _secret_reference(value: str) -> str:
    if value.startswith("arn:"):
        if not _SECRET_ARN.fullmatch(value):
            raise _rule(
                "secret_arn",
                "expected a Secrets Manager secret ARN: "
                "arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>",
            )
    elif not _SECRET_NAME.fullmatch(value):
        raise _rule(
            "secret_name",
            "expected a Secrets Manager secret name (letters, digits and /_+=.@-) or its ARN",
        )
    return value


def _claim_uri(value: str) -> str:
    if not value or any(ch.isspace() for ch in value) or len(value) > 2048:
        raise _rule(
            "claim",
            f"expected a SAML attribute (claim) name such as {ENTRA_EMAIL_CLAIM}",
        )
    return value


def _email_domain(value: str) -> str:
    if value.startswith("@") or not _FQDN.fullmatch(value):
        raise _rule(
            "email_domain",
            "expected an email domain such as contoso.com (lowercase, no '@', no scheme)",
        )
    if len(value) > MAX_IDP_IDENTIFIER_LENGTH:
        raise _rule(
            "email_domain_length",
            f"email domain is {len(value)} characters; Cognito identity provider identifiers "
            f"are at most {MAX_IDP_IDENTIFIER_LENGTH}",
        )
    return value


def _unique(values: list[Any]) -> list[Any]:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise _rule("duplicate_value", f"lists {repeated} more than once")
    return values


def _openid_with_claims(scopes: list[str]) -> list[str]:
    needs_openid = [s for s in scopes if s in SCOPES_NEEDING_OPENID]
    if needs_openid and "openid" not in scopes:
        raise _rule(
            "scope_openid",
            f"{', '.join(needs_openid)} needs 'openid' in the same list (Cognito refuses it "
            "without)",
        )
    return scopes


def _schema_pattern(pattern: re.Pattern[str]) -> Any:
    """Show a rule's pattern to editors without letting pydantic report it in its own words."""
    return Field(json_schema_extra={"pattern": pattern.pattern})


DomainPrefix = Annotated[str, AfterValidator(_domain_prefix), _schema_pattern(_DOMAIN_PREFIX)]
Region = Annotated[str, AfterValidator(_region), _schema_pattern(_REGION)]
AccountId = Annotated[str, AfterValidator(_account), _schema_pattern(re.compile(r"^\d{12}$"))]
RedirectUrl = Annotated[str, AfterValidator(_redirect_url)]
Scope = Annotated[str, AfterValidator(_scope)]
ClientName = Annotated[str, AfterValidator(_client_name), _schema_pattern(_CLIENT_NAME)]
CertificateArn = Annotated[str, AfterValidator(_certificate_arn)]
DomainName = Annotated[str, AfterValidator(_domain_name)]
Tags = Annotated[dict[str, str], AfterValidator(_tags)]
Guid = Annotated[str, AfterValidator(_guid), _schema_pattern(_GUID)]
IdpName = Annotated[str, AfterValidator(_idp_name)]
SecretReference = Annotated[str, AfterValidator(_secret_reference)]
ClaimUri = Annotated[str, AfterValidator(_claim_uri)]
EmailDomain = Annotated[str, AfterValidator(_email_domain)]


# --- the model ---------------------------------------------------------------------


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must fail, never be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Stage(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class OAuthFlow(StrEnum):
    AUTHORIZATION_CODE = "authorization_code"
    IMPLICIT = "implicit"


class RemovalPolicy(StrEnum):
    RETAIN = "retain"
    DESTROY = "destroy"


class TokenValidity(_Strict):
    """Token lifetimes, within Cognito's bounds."""

    id_token_minutes: int = Field(default=60, ge=5, le=1440)
    access_token_minutes: int = Field(default=60, ge=5, le=1440)
    refresh_token_days: int = Field(default=30, ge=1, le=3650)


class UserPoolSettings(_Strict):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[\w\s+=,.@-]+$")
    deletion_protection: bool | None = Field(
        default=None, description="Default: true unless stage is dev."
    )
    removal_policy: RemovalPolicy | None = Field(
        default=None, description="Default: retain when deletion protection is on."
    )

    @model_validator(mode="after")
    def _protection_agrees(self) -> UserPoolSettings:
        if self.deletion_protection and self.removal_policy is RemovalPolicy.DESTROY:
            raise _rule(
                "protection_conflict",
                "deletion_protection is on but removal_policy is destroy, so deleting the "
                "stack would fail; choose removal_policy retain or turn protection off",
            )
        return self


class CustomDomain(_Strict):
    domain_name: Annotated[DomainName, AfterValidator(_custom_domain_name)]
    certificate_arn: CertificateArn
    hosted_zone_id: str | None = Field(
        default=None,
        pattern=r"^Z[A-Z0-9]{1,31}$",
        description="Route 53 hosted zone to create the domain's alias record in (optional).",
    )
    hosted_zone_name: DomainName | None = Field(
        default=None, description="That zone's name, e.g. example.com."
    )

    @model_validator(mode="after")
    def _zone_together(self) -> CustomDomain:
        if (self.hosted_zone_id is None) != (self.hosted_zone_name is None):
            raise _rule(
                "hosted_zone",
                "set both hosted_zone_id and hosted_zone_name, or neither",
            )
        if self.hosted_zone_name and not (
            self.domain_name == self.hosted_zone_name
            or self.domain_name.endswith("." + self.hosted_zone_name)
        ):
            raise _rule(
                "hosted_zone_name",
                f"{self.domain_name} is not inside the zone {self.hosted_zone_name}",
            )
        return self


class DomainSettings(_Strict):
    """Exactly one of `prefix` (a Cognito domain) or `custom` (your own domain)."""

    prefix: DomainPrefix | None = None
    custom: CustomDomain | None = None
    managed_login_version: Literal[1, 2] = Field(
        default=1,
        description="1: the classic hosted UI; 2: managed login (branding with Cognito's "
        "default style is created for every client).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> DomainSettings:
        if (self.prefix is None) == (self.custom is None):
            raise _rule(
                "domain_choice",
                "set exactly one of 'prefix' (Cognito domain) or 'custom' (your own domain)",
            )
        return self


class EntraAssignments(_Strict):
    """Who may sign in: Entra object ids of users and groups."""

    users: Annotated[list[Guid], AfterValidator(_unique)] = Field(default_factory=list)
    groups: Annotated[list[Guid], AfterValidator(_unique)] = Field(default_factory=list)


class EntraAttributeMapping(_Strict):
    """Which SAML claim fills which user pool attribute; email is required by the pool."""

    email: ClaimUri = ENTRA_EMAIL_CLAIM
    name: ClaimUri | None = None
    given_name: ClaimUri | None = None
    family_name: ClaimUri | None = None


# Validation context key: `mobile-sso bootstrap-entra` reads a config before it can be complete.
BOOTSTRAPPING = "bootstrapping"


class EntraFederation(_Strict):
    """Secretless sign-in of the handler to Entra: the deployer app registration trusts the
    handler role's AWS STS web identity tokens through a federated identity credential."""

    client_id: Guid | None = Field(
        default=None,
        validate_default=True,
        description="The deployer app registration's application (client) id, printed by "
        "`mobile-sso bootstrap-entra --credential federated` (the only command that accepts "
        "the config without it).",
    )
    audience: str = Field(
        default="api://AzureADTokenExchange",
        min_length=1,
        max_length=1000,
        pattern=r"^\S+$",
        description="The federated credential's audience (Entra's recommended value).",
    )

    @field_validator("client_id")
    @classmethod
    def _client_id_known(cls, client_id: str | None, info: ValidationInfo) -> str | None:
        if client_id is None and not (info.context or {}).get(BOOTSTRAPPING):
            raise _rule(
                "missing_client_id",
                "required key is missing: 'mobile-sso bootstrap-entra --env NAME --credential "
                "federated' creates the deployer app registration and prints its client id",
            )
        return client_id


class EntraTenant(_Strict):
    """An Entra ID tenant whose users sign in, and the enterprise application made there.

    Each tenant becomes its own Cognito SAML identity provider; its `email_domains` let
    the hosted UI route `alice@contoso.com` straight to Contoso's tenant. The handler signs
    in to the tenant with exactly one of `credentials_secret` or `federation`.
    """

    tenant_id: Guid
    credentials_secret: SecretReference | None = Field(
        default=None,
        description="Secrets Manager secret (name or ARN) of the deployer app registration: "
        '{"tenantId", "clientId", "clientSecret" | "certificatePem"}.',
    )
    federation: EntraFederation | None = Field(
        default=None,
        description="No stored secret: the handler presents an AWS STS web identity token "
        "(IAM outbound identity federation) to the deployer app registration.",
    )
    idp_name: IdpName = Field(
        default="EntraID", description="Cognito identity provider name, shown to apps."
    )
    email_domains: Annotated[list[EmailDomain], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=MAX_IDP_IDENTIFIERS,
        description="Email domains routed to this tenant by the hosted UI (IdP identifiers).",
    )
    display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Enterprise application name; default: '<user pool name> (mobile SSO)'.",
    )
    cloud: Literal["global", "usgov", "usgov-dod", "china"] = "global"
    assignment_required: bool = True
    assignments: EntraAssignments = Field(default_factory=EntraAssignments)
    attribute_mapping: EntraAttributeMapping = Field(default_factory=EntraAttributeMapping)
    retain_on_delete: bool = Field(
        default=False, description="Keep the Entra application when the stack deletes it."
    )
    notes: str = Field(default="", max_length=1024)
    idp_initiated: bool = Field(
        default=False,
        description="Accept IdP-initiated sign-in (Entra's My Apps tile). Less safe than "
        "SP-initiated: Cognito cannot tie the response to a request.",
    )
    idp_initiated_client: str | None = Field(
        default=None,
        description="The client Entra's My Apps tile signs in to; needed when several "
        "clients offer this IdP.",
    )
    idp_signout: bool = Field(
        default=False,
        description="Send a SAML logout request to Entra on sign-out (fragile with Entra).",
    )
    sign_requests: bool = Field(
        default=False, description="Sign Cognito's SAML authentication requests (rsa-sha256)."
    )
    enforce_email_domains: bool | None = Field(
        default=None,
        description="Refuse tokens whose email is outside email_domains, so this tenant cannot "
        "sign in another tenant's addresses. Default: on whenever email_domains is set.",
    )

    @model_validator(mode="after")
    def _one_credential(self) -> EntraTenant:
        if (self.credentials_secret is None) == (self.federation is None):
            raise _rule(
                "entra_credentials",
                "set exactly one of 'credentials_secret' (a Secrets Manager secret) or "
                "'federation' (no stored secret: {client_id: <deployer app id>})",
            )
        return self

    @model_validator(mode="after")
    def _enforcement_needs_domains(self) -> EntraTenant:
        if self.enforce_email_domains and not self.email_domains:
            raise _rule(
                "enforce_email_domains",
                "enforce_email_domains is true but email_domains is empty: list the tenant's "
                "email domains, or drop enforce_email_domains",
            )
        return self

    @property
    def enforces_email_domains(self) -> bool:
        """Whether the pre-token trigger refuses this tenant's emails outside email_domains."""
        return bool(self.email_domains) and self.enforce_email_domains is not False


# UserPoolResourceServer (registry schema): Identifier ^[\x21\x23-\x5B\x5D-\x7E]+$ and
# ScopeName ^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]+$ (printable ASCII but '"', '\\' and, in a scope
# name, '/'), 1-256 each. Stricter here: no ',' (the list separator of the stack outputs).
_RESOURCE_SERVER_IDENTIFIER = re.compile(r"^[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]{1,256}$")
_RESOURCE_SCOPE_NAME = re.compile(r"^[\x21\x23-\x2B\x2D\x2E\x30-\x5B\x5D-\x7E]{1,256}$")
# Name: ^[\w\s+=,.@-]+$; stricter here: letters, decimal digits and ASCII spaces only.
_RESOURCE_SERVER_NAME_EXTRA = " _+=,.@-"


def _resource_server_identifier(value: str) -> str:
    if not _RESOURCE_SERVER_IDENTIFIER.fullmatch(value):
        raise _rule(
            "resource_server_identifier",
            "a resource server identifier is 1-256 printable ASCII characters without spaces, "
            "'\"', '\\' or ',', such as https://api.example.com or orders",
        )
    return value


def _resource_scope_name(value: str) -> str:
    if not _RESOURCE_SCOPE_NAME.fullmatch(value):
        raise _rule(
            "resource_scope_name",
            "a custom scope name is 1-256 printable ASCII characters without spaces, '\"', "
            "'\\', '/' or ',', such as orders.read",
        )
    return value


def _resource_server_name(value: str) -> str:
    refused = [
        ch
        for ch in value
        if unicodedata.category(ch)[0] != "L"
        and unicodedata.category(ch) != "Nd"
        and ch not in _RESOURCE_SERVER_NAME_EXTRA
    ]
    if not 1 <= len(value) <= 256 or refused:
        raise _rule(
            "resource_server_name",
            "a resource server name is 1-256 letters, digits, spaces and _+=,.@-",
        )
    return value


def _scope_description(value: str) -> str:
    # ScopeDescription: 1-256 of anything; stricter here: no control or invisible characters,
    # which also break the YAML reading of the synthesized template (cfn-lint).
    invisible = _outside(value, "LMNPSZ")
    if invisible:
        raise _rule(
            "scope_description",
            f"a scope description must not contain control or invisible characters "
            f"({_shown(invisible)})",
        )
    return value


class ResourceServerScope(_Strict):
    """One custom scope; clients request it as `<identifier>/<name>`."""

    name: Annotated[str, AfterValidator(_resource_scope_name)]
    description: Annotated[str, AfterValidator(_scope_description)] = Field(
        min_length=1, max_length=256
    )


def _distinct_scope_names(scopes: list[ResourceServerScope]) -> list[ResourceServerScope]:
    names = [s.name for s in scopes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _rule("duplicate_scope", f"scope names must be unique; repeated: {repeated}")
    return scopes


class ResourceServer(_Strict):
    """An OAuth 2.0 resource server of the pool (an API) and the custom scopes it defines."""

    identifier: Annotated[str, AfterValidator(_resource_server_identifier)] = Field(
        description="Unique in the pool; the first part of its scopes ('<identifier>/<name>')."
    )
    name: Annotated[str, AfterValidator(_resource_server_name)]
    scopes: Annotated[list[ResourceServerScope], AfterValidator(_distinct_scope_names)] = Field(
        default_factory=list, max_length=MAX_RESOURCE_SERVER_SCOPES
    )

    def scope_values(self) -> list[str]:
        """Its scopes as a client requests them."""
        return [f"{self.identifier}/{scope.name}" for scope in self.scopes]


def _distinct_resource_servers(servers: list[ResourceServer]) -> list[ResourceServer]:
    identifiers = [s.identifier for s in servers]
    repeated = sorted({i for i in identifiers if identifiers.count(i) > 1})
    if repeated:
        raise _rule(
            "duplicate_resource_server",
            f"resource server identifiers must be unique in the pool; repeated: {repeated}",
        )
    return servers


class AppClient(_Strict):
    """One app client of the pool, such as the iOS app."""

    name: ClientName
    platform: Platform
    callback_urls: Annotated[
        list[RedirectUrl], AfterValidator(_unique), Field(min_length=1, max_length=MAX_URLS)
    ]
    sign_out_urls: Annotated[
        list[RedirectUrl], AfterValidator(_unique), Field(min_length=1, max_length=MAX_URLS)
    ]
    scopes: Annotated[list[Scope], AfterValidator(_unique), AfterValidator(_openid_with_claims)] = (
        Field(
            default_factory=lambda: ["openid", "email", "profile"],
            min_length=1,
            max_length=MAX_CLIENT_SCOPES,
        )
    )
    oauth_flows: Annotated[list[OAuthFlow], AfterValidator(_unique)] = Field(
        default_factory=lambda: [OAuthFlow.AUTHORIZATION_CODE], min_length=1
    )
    generate_secret: bool = False
    identity_providers: list[str] | None = Field(
        default=None,
        description="Names of the Entra identity providers this client offers; default: all.",
    )
    allow_cognito_users: bool = Field(
        default=False,
        description="Also offer sign-in with the pool's own (admin-created) users.",
    )
    token_validity: TokenValidity | None = None
    allow_loopback_callbacks: bool = Field(
        default=False,
        description="Allow http://localhost / 127.0.0.1 callback URLs outside stage dev "
        "(they exist for `mobile-sso try-signin` on a developer machine).",
    )

    def resource_server_identifiers(self) -> set[str]:
        """The resource servers whose custom scopes (`<identifier>/<name>`) it requests."""
        return {scope.rsplit("/", 1)[0] for scope in self.scopes if "/" in scope}


def _repeated(values: list[str]) -> list[str]:
    """Values present more than once, ignoring case (as Cognito compares them)."""
    lowered = [v.lower() for v in values]
    return sorted({v for v in values if lowered.count(v.lower()) > 1})


def _distinct_tenants(tenants: list[EntraTenant]) -> list[EntraTenant]:
    names = _repeated([t.idp_name for t in tenants])
    if names:
        raise _rule(
            "duplicate_idp",
            f"idp_name must be unique in the pool (case-insensitive); repeated: {names}",
        )
    domains = _repeated([d for t in tenants for d in t.email_domains])
    if domains:
        raise _rule(
            "duplicate_domain",
            f"an email domain can route to one tenant only; listed twice: {domains}",
        )
    # Output keys keep only the letters and digits of a name ("Contoso EU" -> IdpContosoEU...).
    keys = [re.sub(r"[^A-Za-z0-9]", "", t.idp_name).lower() for t in tenants]
    squashed = sorted({t.idp_name for t, k in zip(tenants, keys, strict=True) if keys.count(k) > 1})
    if squashed:
        raise _rule(
            "idp_name_clash",
            "idp names that differ only in characters other than ASCII letters and digits "
            f"would share stack outputs: {squashed}",
        )
    return tenants


_IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def _iam_action(value: str) -> str:
    if value == "*" or not _IAM_ACTION.fullmatch(value) or value.endswith(":*"):
        raise _rule(
            "iam_action",
            "expected one IAM action such as s3:GetObject (service:Action); '*' and "
            "'service:*' are refused: federated users get least privilege",
        )
    return value


def _role_arn(value: str) -> str:
    if not _IAM_ROLE_ARN.fullmatch(value):
        raise _rule("role_arn", "expected an IAM role ARN: arn:aws:iam::<account>:role/<name>")
    return value


def _iam_resource(value: str) -> str:
    if value == "*" or not value.startswith("arn:"):
        raise _rule(
            "iam_resource",
            "expected a resource ARN such as arn:aws:s3:::my-bucket/${cognito-identity."
            "amazonaws.com:sub}/*; '*' is refused",
        )
    return value


def _claim_name(value: str) -> str:
    # cognito-identity MappingRule.Claim (botocore ClaimName): 1-64, [\p{L}\p{M}\p{S}\p{N}\p{P}]+
    if not 1 <= len(value) <= 64 or _outside(value, "LMNPS"):
        raise _rule(
            "claim_name",
            "a token claim name is 1-64 letters, digits, punctuation or symbols, without "
            "spaces, such as cognito:groups",
        )
    return value


GroupSource = Literal["application_groups", "security_groups", "all"]
# `groups.source` as Graph's application.groupMembershipClaims value (the stack sets it, the
# doctor checks it).
GROUP_MEMBERSHIP_CLAIMS: dict[GroupSource, str] = {
    "application_groups": "ApplicationGroup",
    "security_groups": "SecurityGroup",
    "all": "All",
}


# Lambda: all of a function's environment variables together, keys and values, at most
# 4 KB (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; cfn-lint
# E3697). The token trigger carries `names` as JSON (GroupsTokenTrigger's GROUP_NAMES, made
# with json.dumps(..., sort_keys=True)); 1 KB stays for its other variables.
MAX_GROUP_NAMES_JSON = 3072


def _group_names_fit(names: dict[str, str]) -> dict[str, str]:
    size = len(json.dumps(names, sort_keys=True))
    if size > MAX_GROUP_NAMES_JSON:
        raise _rule(
            "group_names_size",
            f"{len(names)} names take {size} characters in the token trigger's environment "
            f"(non-ASCII characters count 6); Lambda allows 4 KB for all of a function's "
            f"variables, {MAX_GROUP_NAMES_JSON} of them for names: keep fewer or shorter names",
        )
    return names


class GroupsSettings(_Strict):
    """Entra group memberships in the tokens, for every tenant."""

    source: GroupSource = Field(
        default="application_groups",
        description="Which groups Entra sends: those assigned to the app (smallest, "
        "recommended), all security groups, or all groups.",
    )
    names: Annotated[
        dict[Guid, Annotated[str, Field(min_length=1, max_length=256)]],
        AfterValidator(_group_names_fit),
    ] = Field(
        default_factory=dict,
        description="Group object id -> name put in the tokens; when given, ids without a "
        "name are left out.",
    )
    add_to_cognito_groups: bool = Field(
        default=False, description="Also add them to the cognito:groups claim."
    )


# The certificate check reads every tenant's metadata URL from one environment variable
# (CertificateExpiryMonitor's METADATA_URLS, a JSON object name -> URL), and Lambda allows
# 4 KB for all of a function's variables: this bounds the tenants one stack can monitor.
# The URL: <login host>/<tenant id>/federationmetadata/2007-06/federationmetadata.xml?appid=<id>
_METADATA_URL_LENGTH = len(
    "https://login.microsoftonline.com/"  # the longest login host of the four clouds
    + "0" * 36
    + "/federationmetadata/2007-06/federationmetadata.xml?appid="
    + "0" * 36
)
MAX_MONITORED_JSON = 4096 - 256  # the rest: the variables' names and METRIC_NAMESPACE


def monitored_json_size(idp_names: list[str]) -> int:
    """An upper bound of the METADATA_URLS value's size for these tenants (names as JSON
    with non-ASCII escaped: at least as long as their UTF-8)."""
    entries = [len(json.dumps(name)) + 1 + _METADATA_URL_LENGTH + 2 for name in idp_names]
    return 2 + sum(entries) + max(len(entries) - 1, 0)


class MonitoringSettings(_Strict):
    """The scheduled check of the Entra signing certificates (on whenever entra is set)."""

    enabled: bool = True
    certificate_expiry_days: int = Field(
        default=30, ge=1, le=365, description="Alarm when fewer days than this are left."
    )
    check_every_hours: int = Field(default=12, ge=1, le=24)
    alarm_topic_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$",
        description="SNS topic notified when an alarm fires.",
    )


class IamStatement(_Strict):
    """One Allow statement of the authenticated users' role."""

    actions: list[Annotated[str, AfterValidator(_iam_action)]] = Field(min_length=1)
    resources: list[Annotated[str, AfterValidator(_iam_resource)]] = Field(min_length=1)


class GroupRoleRule(_Strict):
    """Users whose token claim contains `value` get `role_arn` instead of the default role."""

    value: str = Field(min_length=1, max_length=128)
    role_arn: Annotated[str, AfterValidator(_role_arn)]


class IdentityPoolSettings(_Strict):
    """AWS credentials for signed-in users (Cognito identity pool); no guest access."""

    statements: list[IamStatement] = Field(
        default_factory=list,
        description="What the authenticated role may do; empty means nothing.",
    )
    role_mapping_claim: Annotated[str, AfterValidator(_claim_name)] = Field(
        default="cognito:groups",
        description="ID token claim that the role rules below match against.",
    )
    role_rules: list[GroupRoleRule] = Field(default_factory=list, max_length=25)


def _distinct_client_names(clients: list[AppClient]) -> list[AppClient]:
    names = [c.name for c in clients]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _rule("duplicate_client", f"client names must be unique; repeated: {repeated}")
    # Output keys drop the hyphens ("ios-app" -> ClientIosAppId, "iosapp" -> ClientIosappId):
    # keys differing only in case are a trap for every reader of the outputs.
    squashed = [n.replace("-", "") for n in names]
    clashing = sorted({n for n, s in zip(names, squashed, strict=True) if squashed.count(s) > 1})
    if clashing:
        raise _rule(
            "client_name_clash",
            f"client names {clashing} differ only by hyphens; their stack outputs would clash",
        )
    return clients


def _check_idp_initiated_targets(tenants: list[EntraTenant], clients: list[AppClient]) -> None:
    names = [c.name for c in clients]
    for tenant in tenants:
        if tenant.idp_initiated_client is not None and tenant.idp_initiated_client not in names:
            raise _rule(
                "idp_initiated_client",
                f"entra tenant {tenant.idp_name!r}: idp_initiated_client "
                f"{tenant.idp_initiated_client!r} is not a client; clients: {names}",
            )
        if tenant.idp_initiated and tenant.idp_initiated_client is None:
            offering = [
                c.name
                for c in clients
                if c.identity_providers is None or tenant.idp_name in c.identity_providers
            ]
            if len(offering) != 1:
                raise _rule(
                    "idp_initiated_client",
                    f"entra tenant {tenant.idp_name!r} has idp_initiated on and is offered by "
                    f"clients {offering}: set idp_initiated_client to the one Entra's My Apps "
                    "tile signs in to",
                )


class EnvironmentConfig(_Strict):
    """One deployment environment: one stack, one user pool."""

    schema_: str | None = Field(default=None, alias="$schema", description="Editor hint only.")
    stack_name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")
    stage: Stage = Stage.DEV
    account: AccountId | None = Field(
        default=None, description="Omit for an environment-agnostic template."
    )
    region: Region
    user_pool: UserPoolSettings
    domain: DomainSettings
    token_validity: TokenValidity = Field(default_factory=TokenValidity)
    entra: Annotated[list[EntraTenant], AfterValidator(_distinct_tenants)] = Field(
        default_factory=list, max_length=MAX_IDPS_PER_POOL
    )
    identity_pool: IdentityPoolSettings | None = None
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    # Before clients: their custom scopes are checked against it.
    resource_servers: Annotated[
        list[ResourceServer], AfterValidator(_distinct_resource_servers)
    ] = Field(default_factory=list, max_length=MAX_RESOURCE_SERVERS)
    clients: Annotated[list[AppClient], AfterValidator(_distinct_client_names)] = Field(
        min_length=1, max_length=1000
    )
    # After clients and entra: its rules read both.
    groups: GroupsSettings | None = None
    tags: Tags = Field(default_factory=dict)
    accept_breaking: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list,
        description="Breaking changes this environment accepts, each by the title "
        "`mobile-sso plan` prints (for example 'IdP rename EntraID -> Contoso'); a reviewer "
        "sees the acknowledgment in the pull request.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("clients")
    @classmethod
    def _clients_name_known_providers(
        cls, clients: list[AppClient], info: ValidationInfo
    ) -> list[AppClient]:
        if "entra" not in info.data:
            return clients  # the entra section itself is invalid and already reported
        known = [tenant.idp_name for tenant in info.data["entra"]]
        idp_initiated = {t.idp_name for t in info.data["entra"] if t.idp_initiated}
        for client in clients:
            unknown = [n for n in client.identity_providers or [] if n not in known]
            if unknown:
                raise _rule(
                    "unknown_idp",
                    f"client {client.name!r} names identity provider(s) {unknown}; "
                    f"configured: {known or 'none (add an entra section)'}",
                )
            offered = known if client.identity_providers is None else client.identity_providers
            for tenant in info.data["entra"]:
                if tenant.idp_initiated_client == client.name and tenant.idp_name not in offered:
                    raise _rule(
                        "idp_initiated_client",
                        f"entra tenant {tenant.idp_name!r} names {client.name!r} as its "
                        "idp_initiated_client, but that client does not offer it",
                    )
            if client.allow_cognito_users and idp_initiated & set(offered):
                raise _rule(
                    "idp_initiated_client",
                    f"client {client.name!r} offers IdP-initiated provider(s) "
                    f"{sorted(idp_initiated & set(offered))}, so it may offer only SAML "
                    "providers: drop allow_cognito_users or the IdP",
                )
        _check_idp_initiated_targets(info.data["entra"], clients)
        return clients

    @field_validator("clients")
    @classmethod
    def _custom_scopes_are_declared(
        cls, clients: list[AppClient], info: ValidationInfo
    ) -> list[AppClient]:
        # Cognito refuses to create a client whose scope no resource server of the pool
        # defines (the registry schema cannot say so: it is a rule across two resources).
        if "resource_servers" not in info.data:
            return clients  # the section itself is invalid and already reported
        servers: list[ResourceServer] = info.data["resource_servers"]
        declared = [value for server in servers for value in server.scope_values()]
        for client in clients:
            for scope in client.scopes:
                if "/" not in scope or scope in declared:
                    continue
                identifier, name = scope.rsplit("/", 1)
                server = next((s for s in servers if s.identifier == identifier), None)
                if server is None:
                    where = (
                        f"no resource_servers entry has the identifier {identifier!r} "
                        f"(declared: {[s.identifier for s in servers] or 'none'})"
                    )
                else:
                    where = (
                        f"resource server {identifier!r} has no scope {name!r} "
                        f"(its scopes: {[s.name for s in server.scopes] or 'none'})"
                    )
                raise _rule(
                    "undeclared_scope",
                    f"client {client.name!r} asks for the scope {scope!r}, but {where}; "
                    "Cognito refuses to create a client with an undeclared custom scope",
                )
        return clients

    @field_validator("clients")
    @classmethod
    def _loopback_callbacks_only_in_dev(
        cls, clients: list[AppClient], info: ValidationInfo
    ) -> list[AppClient]:
        # A loopback callback lets any program listening on that port of a user's machine
        # receive authorization codes: a developer's test tool, not a production redirect.
        stage = info.data.get("stage")
        if stage is None or stage is Stage.DEV:
            return clients  # dev, or a stage that is itself invalid and already reported
        for client in clients:
            if client.allow_loopback_callbacks:
                continue
            for index, url in enumerate(client.callback_urls):
                if is_loopback_url(url):
                    raise _rule(
                        "loopback_callback",
                        f"client {client.name!r}: callback_urls[{index}] {url!r} is a loopback "
                        f"URL, allowed only in stage dev (this is {stage.value}): it is for "
                        "testing sign-in on a developer machine (mobile-sso try-signin); "
                        "remove it, or set allow_loopback_callbacks: true on the client to "
                        "keep it on purpose",
                    )
        return clients

    @field_validator("monitoring")
    @classmethod
    def _monitored_urls_fit_the_environment(
        cls, monitoring: MonitoringSettings, info: ValidationInfo
    ) -> MonitoringSettings:
        if not monitoring.enabled or not info.data.get("entra"):
            return monitoring
        names = [tenant.idp_name for tenant in info.data["entra"]]
        size = monitored_json_size(names)
        if size > MAX_MONITORED_JSON:
            raise _rule(
                "monitoring_size",
                f"the certificate check reads the metadata URLs of all {len(names)} tenants "
                f"from one environment variable, up to {size} characters; Lambda allows 4 KB "
                "for all of a function's variables (about 20 tenants): set enabled: false, "
                "or split the tenants across stacks",
            )
        return monitoring

    @field_validator("groups")
    @classmethod
    def _groups_need_entra_and_no_self_service(
        cls, groups: GroupsSettings | None, info: ValidationInfo
    ) -> GroupsSettings | None:
        if groups is None or "clients" not in info.data or "entra" not in info.data:
            return groups
        if not info.data["entra"]:
            raise _rule("groups_without_entra", "groups need at least one entra tenant")
        # A client that may write the mapped attribute and grants this scope would let a user
        # rewrite their own groups with UpdateUserAttributes.
        admin = "aws.cognito.signin.user.admin"
        exposed = [c.name for c in info.data["clients"] if admin in c.scopes]
        if exposed:
            raise _rule(
                "groups_admin_scope",
                f"with groups on, clients {exposed} must not have the scope '{admin}': it lets "
                "users change their own groups",
            )
        return groups

    def idp_initiated_target(self, tenant: EntraTenant) -> AppClient | None:
        """The client Entra's My Apps tile signs in to, for an IdP-initiated tenant."""
        if not tenant.idp_initiated:
            return None
        name = tenant.idp_initiated_client or next(
            c.name for c in self.clients if tenant.idp_name in self.client_idp_names(c)
        )
        return next(c for c in self.clients if c.name == name)

    def client_idp_names(self, client: AppClient) -> list[str]:
        """The Entra identity providers the client offers (default: all)."""
        if client.identity_providers is not None:
            return client.identity_providers
        return [tenant.idp_name for tenant in self.entra]

    def tenant_email_domains(self) -> dict[str, list[str]]:
        """IdP name -> email domains, for each tenant held to its domains (the trigger's map)."""
        return {t.idp_name: list(t.email_domains) for t in self.entra if t.enforces_email_domains}

    def entra_display_name(self, tenant: EntraTenant) -> str:
        return tenant.display_name or f"{self.user_pool.name} (mobile SSO)"

    @property
    def deletion_protection(self) -> bool:
        if self.user_pool.deletion_protection is not None:
            return self.user_pool.deletion_protection
        return self.stage is not Stage.DEV

    @property
    def removal_policy(self) -> RemovalPolicy:
        if self.user_pool.removal_policy is not None:
            return self.user_pool.removal_policy
        return RemovalPolicy.RETAIN if self.deletion_protection else RemovalPolicy.DESTROY

    def token_validity_for(self, client: AppClient) -> TokenValidity:
        return client.token_validity or self.token_validity


# --- loading -----------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a repeated key is a typo, so refuse it."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                "found a key that is a list or mapping; keys are plain names",
                key_node.start_mark,
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice (first on line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _format_location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where an unknown key `loc` was found, for a did-you-mean hint."""
    model: type[BaseModel] | None = EnvironmentConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    where = _format_location(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown key{hint} (allowed here: {', '.join(allowed)})"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if error["type"] == "missing_client_id":
        return f"{where}: {error['msg']}"
    value = error.get("input")
    message = error["msg"]
    ctx = error.get("ctx") or {}
    if error["type"] == "too_short" and isinstance(value, list):
        message = f"needs at least {ctx['min_length']} entry"
    elif error["type"] == "too_long" and isinstance(value, list):
        message = f"has {ctx['actual_length']} entries; at most {ctx['max_length']} allowed"
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict) for v in value)
    ):
        return f"{where}: {message}"
    return f"{where}: {value!r}: {message}"


def parse_config(
    data: Any, source: Path | str, *, bootstrapping: bool = False
) -> EnvironmentConfig:
    """Validate already-parsed YAML/JSON data; raise ConfigError with every finding.
    `bootstrapping` accepts a federated tenant whose client id is not known yet."""
    if not isinstance(data, dict):
        raise ConfigError(
            source, ["the file must hold a mapping of keys (see config/example.yaml)"]
        )
    try:
        return EnvironmentConfig.model_validate(data, context={BOOTSTRAPPING: bootstrapping})
    except ValidationError as exc:
        raise ConfigError(source, [_describe(e) for e in exc.errors()]) from None


def load_config_file(path: Path, *, bootstrapping: bool = False) -> EnvironmentConfig:
    """Read and validate one config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"not UTF-8 text (byte {exc.start})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        return parse_config(data, path, bootstrapping=bootstrapping)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}".replace("\n", " ")]) from None
    except RecursionError:
        raise ConfigError(path, ["the document is nested too deeply to be a config"]) from None


@dataclass(frozen=True)
class ConfigSearch:
    """Where the environment files are read from, and each directory looked at on the way
    (with what named it), for the message when a file is not there."""

    directory: Path
    searched: tuple[str, ...]


def find_config_dir(
    given: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ConfigSearch:
    """The directory of the environment files: `given` (--config-dir), else the directory
    named by MOBILE_SSO_CONFIG_DIR, else ./config when it exists, else the repository's
    config/. The first one that applies is the one used: a directory named but missing is
    an error later, never a silent fall-back to another environment's file."""
    environ = os.environ if environ is None else environ
    if given is not None:
        return ConfigSearch(given, (f"{given} ({CONFIG_DIR_OPTION})",))
    named = environ.get(CONFIG_DIR_VARIABLE, "")
    if named:
        return ConfigSearch(Path(named), (f"{named} ({CONFIG_DIR_VARIABLE})",))
    local = (Path.cwd() if cwd is None else cwd) / "config"
    if local.is_dir():
        return ConfigSearch(local, (f"{local} (./config)",))
    return ConfigSearch(
        CONFIG_DIR,
        (f"{local} (./config: no such directory)", f"{CONFIG_DIR} (the repository's config/)"),
    )


def load_config(
    env_name: str, config_dir: Path | None = None, *, bootstrapping: bool = False
) -> EnvironmentConfig:
    """The config of environment `env_name`, from `<env_name>.yaml` in the directory that
    `find_config_dir(config_dir)` picks."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", env_name):
        raise ConfigError(
            f"-c env={env_name}", ["an environment name is letters, digits, '-' and '_'"]
        )
    search = find_config_dir(config_dir)
    path = search.directory / f"{env_name}.yaml"
    if not path.is_file():
        if search.directory.is_dir():
            here = f"environments here: {sorted(p.stem for p in search.directory.glob('*.yaml'))}"
        else:
            here = f"{search.directory} is not a directory"
        raise ConfigError(
            path,
            [
                f"no such environment file; {here}; searched: "
                f"{'; '.join(search.searched)}. Name the directory with {CONFIG_DIR_OPTION} "
                f"DIR or the {CONFIG_DIR_VARIABLE} environment variable"
            ],
        )
    return load_config_file(path, bootstrapping=bootstrapping)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editors (published as config/schema.json)."""
    schema = EnvironmentConfig.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cognito-entra-sso environment config"
    return schema
