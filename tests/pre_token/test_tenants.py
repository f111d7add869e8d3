"""tenants.py: which email a tenant's identity provider may vouch for (pure functions)."""

from __future__ import annotations

import json

import pytest
from pre_token_groups.groups import ConfigError
from pre_token_groups.tenants import (
    EmailDomainRefused,
    allowed_domains,
    check,
    email_domain,
    providers,
)

# Every refusal shows the user the same message (EmailDomainRefused keeps the why for the log).
REFUSAL = r"^Sign-in refused: this account's email address is not in a domain its identity provider"
ALLOWED = {
    "contoso": frozenset({"contoso.com", "contoso.co.uk"}),
    "fabrikam": frozenset({"fabrikam.com"}),
}


def user(email: str | None, *names: str) -> dict[str, str]:
    """A federated user's attributes as Cognito passes them: identities is a JSON string."""
    attributes = {
        "identities": json.dumps(
            [
                {"userId": "u", "providerName": n, "providerType": "SAML", "primary": True}
                for n in names
            ]
        )
    }
    if email is not None:
        attributes["email"] = email
    return attributes


def refused(attributes: dict[str, str]) -> EmailDomainRefused:
    with pytest.raises(EmailDomainRefused, match=REFUSAL) as caught:
        check(attributes, ALLOWED)
    return caught.value


# -- the rule ----------------------------------------------------------------------------------


def test_a_tenant_may_sign_in_its_own_domain() -> None:
    assert check(user("ada@contoso.com", "Contoso"), ALLOWED) == "Contoso"


def test_a_tenant_may_not_assert_another_tenants_domain() -> None:
    caught = refused(user("ceo@contoso.com", "Fabrikam"))

    assert (caught.provider, caught.domain) == ("Fabrikam", "contoso.com")


def test_domains_and_provider_names_compare_without_case() -> None:
    assert check(user("Ada@CONTOSO.Co.UK", "CONTOSO"), ALLOWED) == "CONTOSO"


def test_a_subdomain_is_not_covered_by_its_parent() -> None:
    assert refused(user("ada@sales.contoso.com", "Contoso")).domain == "sales.contoso.com"


def test_a_domain_that_only_ends_like_a_listed_one_is_refused() -> None:
    assert refused(user("ceo@evilcontoso.com", "Contoso")).domain == "evilcontoso.com"


def test_a_user_without_an_email_is_refused() -> None:
    assert refused(user(None, "Contoso")).domain == "(no email)"


@pytest.mark.parametrize(
    "email",
    [
        '"ceo@contoso.com"@fabrikam.com',
        "ceo@contoso.com@fabrikam.com",
        "ceo@fabri\u212aam.com",  # KELVIN SIGN lowercases to 'k'
        "ceo@fabrikam.com ",
        "fabrikam.com",
        "@fabrikam.com",
    ],
    ids=["quoted-at", "two-ats", "non-ascii", "trailing-space", "no-at", "no-local-part"],
)
def test_anything_but_one_plain_ascii_address_is_refused(email: str) -> None:
    with pytest.raises(EmailDomainRefused, match=REFUSAL):
        check(user(email, "Fabrikam"), ALLOWED)


def test_providers_that_are_not_listed_are_not_checked() -> None:
    assert check(user("ceo@contoso.com", "Northwind"), ALLOWED) is None


def test_pool_users_without_identities_are_not_checked() -> None:
    assert check({"email": "ceo@contoso.com"}, ALLOWED) is None


def test_a_user_linked_to_two_tenants_must_satisfy_both() -> None:
    # Each linked provider's sign-in rewrites the email; the pool cannot tell which one wrote it.
    assert refused(user("ada@contoso.com", "Contoso", "Fabrikam")).provider == "Fabrikam"


def test_unreadable_identities_are_refused() -> None:
    with pytest.raises(EmailDomainRefused, match=REFUSAL):
        check({"identities": "not json", "email": "ada@contoso.com"}, ALLOWED)


def test_nothing_is_checked_without_the_variable() -> None:
    assert check(user("ceo@contoso.com", "Fabrikam"), {}) is None


def test_the_refusal_the_client_sees_names_neither_address_nor_domain() -> None:
    message = str(refused(user("ceo@contoso.com", "Fabrikam")))

    assert "ceo" not in message
    assert "contoso" not in message
    assert "Sign-in refused" in message


def test_the_logged_domain_is_bounded() -> None:
    assert len(refused(user("a@" + "x" * 5000 + ".com", "Contoso")).domain) == 255


# -- parsing -----------------------------------------------------------------------------------


def test_identities_is_read_from_its_json_string() -> None:
    assert providers(user("a@contoso.com", "Contoso", "Fabrikam")) == ["Contoso", "Fabrikam"]


def test_email_domain_is_the_lowercase_part_after_the_at() -> None:
    assert email_domain("Ada@Contoso.COM") == "contoso.com"


def test_the_variable_maps_lowercased_provider_names_to_domains() -> None:
    env = {"TENANT_EMAIL_DOMAINS": json.dumps({"Contoso": ["contoso.com"]})}

    assert allowed_domains(env) == {"contoso": frozenset({"contoso.com"})}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"Contoso": ', "TENANT_EMAIL_DOMAINS is not valid JSON"),
        ('{"Contoso": []}', "non-empty lists of email domains"),
        ('["contoso.com"]', "must be a JSON object"),
    ],
    ids=["truncated", "empty-list", "not-an-object"],
)
def test_a_malformed_variable_is_a_config_error(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        allowed_domains({"TENANT_EMAIL_DOMAINS": raw})
