"""Tenant isolation: a tenant's identity provider may sign in only its own email domains.

Why
---
In a pool with one SAML identity provider per Entra tenant, each tenant's administrators
decide what their tenant asserts as `email`. Nothing in Cognito ties that value to the
provider's IdP identifiers (`email_domains`), so tenant B can assert `ceo@contoso.com` and an
app that authorises on `email` lets B act as Contoso's CEO (cross-tenant impersonation, the
"nOAuth" class). This check refuses such a token instead.

The rule
--------
For every identity in the user's `identities` attribute whose provider is listed in
TENANT_EMAIL_DOMAINS, the user's `email` must end in `@<domain>` for one of that provider's
domains: compared in lowercase, ASCII only, exactly one `@`, and the domain matched exactly.
A subdomain (`sales.contoso.com`) is not covered by its parent (`contoso.com`); list it too.
Listing a domain is a claim to own it: it must not claim every name beneath it as well.
A user without an email, or whose `identities` cannot be read, is refused too: the check
fails closed.

Providers not listed (a tenant that opted out, a tenant without `email_domains`) and users
without identities (the pool's own users) are not checked.

Where the data is
-----------------
Cognito passes `identities` in `request.userAttributes` as a JSON string: a list of
{"userId", "providerName", "providerType", "issuer", "primary", "dateCreated"}. It is the
same in V1_0 and V2_0 events and at every trigger source, refresh included, so a token
refreshed after the provider's domains changed is checked against the new list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pre_token_groups.groups import ConfigError

ENV_VARIABLE = "TENANT_EMAIL_DOMAINS"
# A domain in the log is the attacker's text: bounded, so a log line stays a line.
_MAX_LOGGED = 255


class EmailDomainRefused(Exception):
    """The token is refused; Cognito fails the sign-in (or refresh) with this message.

    The message reaches the app (and the user's browser) as an error description, so it names
    neither the address nor the domain; the function's log does (provider and domain).
    """

    def __init__(self, provider: str, domain: str) -> None:
        self.provider = provider
        self.domain = domain[:_MAX_LOGGED]
        super().__init__(
            "Sign-in refused: this account's email address is not in a domain its identity "
            "provider may sign in."
        )


def allowed_domains(env: Mapping[str, str]) -> dict[str, frozenset[str]]:
    """TENANT_EMAIL_DOMAINS, parsed: {provider name (lowercase): allowed domains}.

    Unset or empty: no provider is checked. Malformed: ConfigError (the sign-in fails).
    """
    raw = env.get(ENV_VARIABLE, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{ENV_VARIABLE} is not valid JSON ({exc.msg}).") from None
    if not isinstance(value, dict) or not all(
        isinstance(name, str)
        and name.strip()
        and isinstance(domains, list)
        and domains
        and all(isinstance(d, str) and d.strip() for d in domains)
        for name, domains in value.items()
    ):
        raise ConfigError(
            f"{ENV_VARIABLE} must be a JSON object mapping identity provider names to "
            "non-empty lists of email domains."
        )
    # Cognito refuses two providers whose names differ only in case, so lowercase is a key.
    return {
        name.strip().lower(): frozenset(d.strip().lower() for d in domains)
        for name, domains in value.items()
    }


def providers(attributes: Mapping[str, str]) -> list[str] | None:
    """The names of the providers the user is linked to: [] for a pool user (no
    `identities`), None when the attribute cannot be read."""
    raw = attributes.get("identities")
    if raw is None or not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, list):
        return None
    found: list[str] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("providerName"), str):
            return None
        found.append(item["providerName"])
    return found


def email_domain(email: str | None) -> str | None:
    """The domain of `email` in lowercase, or None when it is not one plain ASCII address."""
    if not email or not email.isascii() or email.count("@") != 1:
        return None
    local, domain = email.split("@")
    if not local or not domain or any(ch.isspace() for ch in email):
        return None
    return domain.lower()


def check(attributes: Mapping[str, str], allowed: Mapping[str, frozenset[str]]) -> str | None:
    """Raise EmailDomainRefused unless each checked provider may assert the user's email.

    Returns the name of the last provider checked (for the log), or None when none was.
    """
    if not allowed:
        return None
    linked = providers(attributes)
    if linked is None:
        raise EmailDomainRefused("(unreadable identities)", "")
    checked = None
    for provider in linked:
        domains = allowed.get(provider.lower())
        if domains is None:
            continue
        email = attributes.get("email")
        domain = email_domain(email)
        if domain is None or domain not in domains:
            raise EmailDomainRefused(provider, _shown(email, domain))
        checked = provider
    return checked


def _shown(email: str | None, domain: str | None) -> str:
    """What the log may say about a refused email: its domain, never the local part."""
    if domain is not None:
        return domain
    if not email:
        return "(no email)"
    # Not one plain address: show what follows the last '@' (or nothing), escaped by the log.
    return email.rsplit("@", 1)[1] if "@" in email else "(no '@')"
