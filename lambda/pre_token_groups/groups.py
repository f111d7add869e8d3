"""From the user's attributes to the groups that go into the tokens: pure functions.

How the groups arrive
---------------------
Entra sends one SAML attribute value per group object id in
`http://schemas.microsoft.com/ws/2008/06/identity/claims/groups`; the identity provider maps
that claim to a custom attribute (default `custom:groups`). Cognito keeps attributes as
strings: a multi-valued SAML attribute becomes `[id1, id2]`, one value stays bare (`id1`),
and in the bracketed form Cognito URL-encodes the values' non-alphanumeric characters other
than `. - * _` (so a comma inside a value arrives as `%2C`). `parse_groups` reads both forms,
a plain comma-separated list, and a JSON array of strings.

Limits and staleness (what the tokens cannot tell)
--------------------------------------------------
- Above 150 groups Entra sends no groups claim in a SAML token, and sends
  `http://schemas.microsoft.com/claims/groups.link` instead (a Graph URL). Mapped to
  OVERAGE_ATTRIBUTE, it sets the claim `groups_overage: true`: the app must then read the
  user's groups from Graph (`/users/{id}/getMemberObjects`).
- A custom attribute holds at most 2048 characters, and Cognito fails the sign-in when a
  mapped value is longer: about 53 group object ids fit. Keep the claim small, e.g. with
  groupMembershipClaims `ApplicationGroup` (only the groups assigned to the application).
- Cognito rewrites a mapped attribute only when the claim is in the assertion; an absent
  claim leaves the previous value in place. So after an overage the groups attribute may
  still hold an older list, and the overage marker stays set after the user drops below
  the limit again. Hence: the marker wins (no groups are emitted while it is set), and a
  user with no groups at all in the assertion keeps the last list seen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

DEFAULT_GROUPS_ATTRIBUTE = "custom:groups"
GROUPS_CLAIM = "groups"
OVERAGE_CLAIM = "groups_overage"

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"", "false", "0", "no"})


class ConfigError(ValueError):
    """The function's environment is wrong; the message names the variable and the rule."""


@dataclass(frozen=True)
class Settings:
    """The function's environment, parsed."""

    groups_attribute: str = DEFAULT_GROUPS_ATTRIBUTE
    overage_attribute: str | None = None
    group_names: Mapping[str, str] | None = None
    add_to_cognito_groups: bool = False
    # Off when the function is deployed only to check tenants' email domains; unset means on,
    # as functions deployed before the variable existed expect.
    enabled: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            enabled=_flag(env, "GROUPS_ENABLED", default=True),
            groups_attribute=_attribute(env, "GROUPS_ATTRIBUTE") or DEFAULT_GROUPS_ATTRIBUTE,
            overage_attribute=_attribute(env, "OVERAGE_ATTRIBUTE"),
            group_names=_group_names(env.get("GROUP_NAMES", "")),
            add_to_cognito_groups=_flag(env, "ADD_TO_COGNITO_GROUPS"),
        )

    @property
    def raw_attributes(self) -> tuple[str, ...]:
        """The attributes this function reads; their raw strings stay out of the tokens."""
        if self.overage_attribute is None:
            return (self.groups_attribute,)
        return (self.groups_attribute, self.overage_attribute)


@dataclass(frozen=True)
class Groups:
    """What goes into the tokens, and counts for the log."""

    values: tuple[str, ...] = ()
    overage: bool = False
    received: int = 0
    unmapped: int = 0


def parse_groups(raw: str | None) -> list[str]:
    """The values of a groups attribute, in order, without duplicates or blanks."""
    text = (raw or "").strip()
    if text.startswith("[") and text.endswith("]"):
        items = _json_strings(text)
        if items is None:
            items = [unquote_plus(item) for item in text[1:-1].split(",")]
    else:
        items = text.split(",")
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def resolve(attributes: Mapping[str, str], settings: Settings) -> Groups:
    """The groups for the tokens: ids, or names when GROUP_NAMES maps them."""
    if settings.overage_attribute and (attributes.get(settings.overage_attribute) or "").strip():
        return Groups(overage=True)
    ids = parse_groups(attributes.get(settings.groups_attribute))
    if settings.group_names is None:
        return Groups(values=tuple(ids), received=len(ids))
    names = [settings.group_names.get(group_id.lower()) for group_id in ids]
    mapped = [name for name in names if name is not None]
    return Groups(
        values=tuple(dict.fromkeys(mapped)),
        received=len(ids),
        unmapped=len(ids) - len(mapped),
    )


def _json_strings(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _attribute(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    if name not in env:
        return default
    value = env[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is invalid: expected 'true' or 'false'.")


def _group_names(raw: str) -> dict[str, str] | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"GROUP_NAMES is not valid JSON ({exc.msg}).") from None
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(name, str) and key.strip() and name.strip()
        for key, name in value.items()
    ):
        raise ConfigError(
            "GROUP_NAMES must be a JSON object mapping group object ids to non-empty names."
        )
    return {key.strip().lower(): name.strip() for key, name in value.items()}
