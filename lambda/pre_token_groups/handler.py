"""Cognito pre token generation trigger, event version V2_0: Entra groups into the tokens,
and each tenant held to its own email domains.

`handler(event, context)` first refuses the token (raises EmailDomainRefused, so Cognito fails
the sign-in or refresh) when a provider listed in TENANT_EMAIL_DOMAINS vouches for an email
outside its domains (see tenants.py); it logs the provider and the domain, never the address.
This check runs for V1_0 events too. Then, unless GROUPS_ENABLED is false, it reads the
user's groups from a custom attribute and answers:

- claim `groups` (a list) in the ID token and in the access token: the group object ids, or,
  with GROUP_NAMES, the names they map to (ids without a name are left out);
- claim `groups_overage: true` in both tokens when the overage marker is set (more groups
  than Entra puts in a SAML token); the app then reads the groups from Microsoft Graph;
- the raw attributes suppressed in the ID token (their bracketed strings are redundant);
- `cognito:groups` untouched, unless ADD_TO_COGNITO_GROUPS is true: then the groups are
  added to the user's pool groups there (via groupOverrideDetails).

A V1_0 event (which cannot carry lists, nor touch the access token) is returned unchanged,
with a warning. Only counts are logged, never group ids, names or attribute values.

Environment (read at every invocation):

- GROUPS_ATTRIBUTE: the attribute Entra's groups claim is mapped to (default custom:groups).
- OVERAGE_ATTRIBUTE: the attribute `http://schemas.microsoft.com/claims/groups.link` is
  mapped to (e.g. custom:groups_overage); unset: no overage detection.
- GROUP_NAMES: a JSON object {"<group object id>": "<name or role>", ...}; unset: ids.
- ADD_TO_COGNITO_GROUPS: true or false (default false).
- GROUPS_ENABLED: false when the function only checks email domains (default true).
- TENANT_EMAIL_DOMAINS: a JSON object {"<provider name>": ["<domain>", ...], ...}; unset:
  no provider is checked.

A malformed value raises ConfigError, which fails the sign-in with a message naming the
variable: a wrong configuration must not hand out tokens with wrong groups.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, TypedDict

from pre_token_groups import tenants
from pre_token_groups.groups import GROUPS_CLAIM, OVERAGE_CLAIM, Groups, Settings, resolve

logger = logging.getLogger("pre_token_groups")

Claims = dict[str, list[str] | bool]


class IdTokenGeneration(TypedDict, total=False):
    claimsToAddOrOverride: Claims
    claimsToSuppress: list[str]


class AccessTokenGeneration(TypedDict, total=False):
    claimsToAddOrOverride: Claims
    claimsToSuppress: list[str]
    scopesToAdd: list[str]
    scopesToSuppress: list[str]


class GroupOverrideDetails(TypedDict, total=False):
    groupsToOverride: list[str]
    iamRolesToOverride: list[str]
    preferredRole: str


class ClaimsAndScopeOverrideDetails(TypedDict, total=False):
    idTokenGeneration: IdTokenGeneration
    accessTokenGeneration: AccessTokenGeneration
    groupOverrideDetails: GroupOverrideDetails


def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    logger.setLevel(logging.INFO)
    source = event.get("triggerSource")
    request = event.get("request") or {}
    attributes = {
        name: value
        for name, value in (request.get("userAttributes") or {}).items()
        if isinstance(value, str)
    }
    try:
        tenants.check(attributes, tenants.allowed_domains(os.environ))
    except tenants.EmailDomainRefused as refused:
        _warn(
            "email_domain_refused", source=source, provider=refused.provider, domain=refused.domain
        )
        raise
    if str(event.get("version")) == "1":
        _warn("skipped", source=source, reason="V1_0 event; set the trigger's version to V2_0")
        return event
    settings = Settings.from_env(os.environ)
    if not settings.enabled:
        return event
    groups = resolve(attributes, settings)
    details = overrides(groups, settings, request.get("groupConfiguration") or {})
    event["response"] = {"claimsAndScopeOverrideDetails": details}
    _log(
        "groups",
        source=source,
        received=groups.received,
        emitted=len(groups.values),
        unmapped=groups.unmapped,
        overage=groups.overage,
        cognito_groups="groupOverrideDetails" in details,
    )
    return event


def overrides(
    groups: Groups, settings: Settings, group_configuration: Mapping[str, Any]
) -> ClaimsAndScopeOverrideDetails:
    """The V2_0 response for `groups`."""
    claims: Claims = {}
    if groups.values:
        claims[GROUPS_CLAIM] = list(groups.values)
    if groups.overage:
        claims[OVERAGE_CLAIM] = True
    id_token: IdTokenGeneration = {"claimsToSuppress": list(settings.raw_attributes)}
    details: ClaimsAndScopeOverrideDetails = {"idTokenGeneration": id_token}
    if claims:
        id_token["claimsToAddOrOverride"] = dict(claims)
        details["accessTokenGeneration"] = {"claimsToAddOrOverride": dict(claims)}
    if settings.add_to_cognito_groups and groups.values:
        details["groupOverrideDetails"] = _cognito_groups(groups, group_configuration)
    return details


def _cognito_groups(groups: Groups, current: Mapping[str, Any]) -> GroupOverrideDetails:
    # Added, not replaced: the user's pool groups stay (among them the one Cognito makes for
    # each identity provider), and the IAM roles are passed through as they are.
    pool_groups = [g for g in current.get("groupsToOverride") or [] if isinstance(g, str)]
    roles = [r for r in current.get("iamRolesToOverride") or [] if isinstance(r, str)]
    details: GroupOverrideDetails = {
        "groupsToOverride": list(dict.fromkeys([*pool_groups, *groups.values])),
        "iamRolesToOverride": roles,
    }
    preferred = current.get("preferredRole")
    if isinstance(preferred, str) and preferred:
        details["preferredRole"] = preferred
    return details


def _log(event: str, **fields: object) -> None:
    logger.info(json.dumps({"event": event, **fields}, separators=(",", ":")))


def _warn(event: str, **fields: object) -> None:
    logger.warning(json.dumps({"event": event, **fields}, separators=(",", ":")))
