"""handler.py against V2_0 trigger events as Cognito sends them (events/*.json)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pre_token_groups.groups import ConfigError
from pre_token_groups.handler import handler
from pre_token_groups.tenants import EmailDomainRefused

from tests.pre_token.test_tenants import REFUSAL

EVENTS = Path(__file__).parent / "events"
ADMINS = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
PILOTS = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
IDP_GROUP = "eu-west-1_AbCdEfGhI_EntraID"
ENV = (
    "GROUPS_ATTRIBUTE",
    "OVERAGE_ATTRIBUTE",
    "GROUP_NAMES",
    "ADD_TO_COGNITO_GROUPS",
    "GROUPS_ENABLED",
    "TENANT_EMAIL_DOMAINS",
)
TENANTS = json.dumps({"Contoso": ["contoso.com"], "Fabrikam": ["fabrikam.com"]})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def details(name: str) -> dict[str, Any]:
    """The claimsAndScopeOverrideDetails the handler answers to events/<name>.json."""
    answer = handler(load(name), None)
    json.dumps(answer)  # Cognito reads the answer as JSON
    result: dict[str, Any] = answer["response"]["claimsAndScopeOverrideDetails"]
    return result


def added(result: dict[str, Any], token: str) -> dict[str, Any]:
    claims: dict[str, Any] = result[f"{token}TokenGeneration"]["claimsToAddOrOverride"]
    return claims


# -- the groups claim --------------------------------------------------------------------------


def test_groups_go_into_the_id_and_access_tokens() -> None:
    assert details("v2-groups") == {
        "idTokenGeneration": {
            "claimsToAddOrOverride": {"groups": [ADMINS, PILOTS]},
            "claimsToSuppress": ["custom:groups"],
        },
        "accessTokenGeneration": {"claimsToAddOrOverride": {"groups": [ADMINS, PILOTS]}},
    }


def test_plain_comma_separated_attribute_gives_the_same_groups() -> None:
    result = details("v2-groups-plain")

    assert added(result, "id") == added(result, "access") == {"groups": [ADMINS, PILOTS]}


def test_one_group_still_makes_a_list() -> None:
    result = details("v2-one-group")

    assert added(result, "access") == {"groups": [ADMINS]}


def test_user_without_the_attribute_gets_no_groups_claim() -> None:
    assert details("v2-no-groups") == {"idTokenGeneration": {"claimsToSuppress": ["custom:groups"]}}


def test_attribute_name_comes_from_groups_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUPS_ATTRIBUTE", "custom:entra_groups")
    event = load("v2-groups")
    attributes = event["request"]["userAttributes"]
    attributes["custom:entra_groups"] = attributes.pop("custom:groups")

    result = handler(event, None)["response"]["claimsAndScopeOverrideDetails"]

    assert added(result, "access") == {"groups": [ADMINS, PILOTS]}
    assert result["idTokenGeneration"]["claimsToSuppress"] == ["custom:entra_groups"]


def test_the_rest_of_the_event_is_returned_as_it_came() -> None:
    event = load("v2-groups")
    sent = copy.deepcopy(event)

    answer = handler(event, None)

    assert {k: v for k, v in answer.items() if k != "response"} == {
        k: v for k, v in sent.items() if k != "response"
    }


# -- names instead of ids ----------------------------------------------------------------------


def test_mapped_ids_become_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_NAMES", json.dumps({ADMINS: "admin", PILOTS: "pilot"}))

    result = details("v2-groups")

    assert added(result, "id") == added(result, "access") == {"groups": ["admin", "pilot"]}


def test_ids_without_a_name_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_NAMES", json.dumps({PILOTS: "pilot"}))

    assert added(details("v2-groups"), "access") == {"groups": ["pilot"]}


def test_no_mapped_group_means_no_groups_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_NAMES", json.dumps({"ffffffff-0000-4000-8000-000000000000": "x"}))

    result = details("v2-groups")

    assert "accessTokenGeneration" not in result
    assert "claimsToAddOrOverride" not in result["idTokenGeneration"]


# -- overage (more than 150 groups) ------------------------------------------------------------


def test_overage_marker_sets_groups_overage_and_drops_the_stale_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OVERAGE_ATTRIBUTE", "custom:groups_overage")

    assert details("v2-overage") == {
        "idTokenGeneration": {
            "claimsToAddOrOverride": {"groups_overage": True},
            "claimsToSuppress": ["custom:groups", "custom:groups_overage"],
        },
        "accessTokenGeneration": {"claimsToAddOrOverride": {"groups_overage": True}},
    }


def test_without_overage_attribute_the_marker_is_not_read() -> None:
    result = details("v2-overage")

    assert added(result, "access") == {"groups": [ADMINS, PILOTS]}


def test_no_overage_claim_while_the_marker_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERAGE_ATTRIBUTE", "custom:groups_overage")

    assert added(details("v2-groups"), "access") == {"groups": [ADMINS, PILOTS]}


# -- cognito:groups ----------------------------------------------------------------------------


def test_cognito_groups_are_left_alone_by_default() -> None:
    assert "groupOverrideDetails" not in details("v2-refresh-pool-groups")


def test_add_to_cognito_groups_keeps_the_pool_groups_and_roles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADD_TO_COGNITO_GROUPS", "true")
    role = "arn:aws:iam::123456789012:role/mobile-pilots"

    result = details("v2-refresh-pool-groups")

    assert result["groupOverrideDetails"] == {
        "groupsToOverride": [IDP_GROUP, "pilots", ADMINS, PILOTS],
        "iamRolesToOverride": [role],
        "preferredRole": role,
    }


def test_add_to_cognito_groups_without_groups_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADD_TO_COGNITO_GROUPS", "true")

    assert "groupOverrideDetails" not in details("v2-no-groups")


# -- versions, configuration, logs -------------------------------------------------------------


def test_v1_event_is_returned_unchanged_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    event = load("v1-groups")
    sent = copy.deepcopy(event)

    answer = handler(event, None)

    assert answer == sent
    assert "V2_0" in caplog.text


def test_malformed_configuration_fails_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUP_NAMES", f'{{"{ADMINS}": ')

    with pytest.raises(ConfigError, match="GROUP_NAMES is not valid JSON"):
        handler(load("v2-groups"), None)


def test_logs_carry_counts_and_no_attribute_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GROUP_NAMES", json.dumps({ADMINS: "admin"}))
    caplog.set_level(logging.INFO)

    handler(load("v2-groups"), None)

    [record] = [r for r in caplog.records if r.name == "pre_token_groups"]
    assert json.loads(record.getMessage()) == {
        "event": "groups",
        "source": "TokenGeneration_HostedAuth",
        "received": 2,
        "emitted": 1,
        "unmapped": 1,
        "overage": False,
        "cognito_groups": False,
    }
    for secret in (ADMINS, PILOTS, "admin", "ada@contoso.com"):
        assert secret not in caplog.text


# -- tenant isolation: each tenant's provider vouches only for its own domains ---------------


def test_a_tenant_asserting_another_tenants_email_fails_the_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", TENANTS)

    with pytest.raises(EmailDomainRefused, match="Sign-in refused"):
        handler(load("v2-cross-tenant"), None)


def test_the_check_also_refuses_a_token_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", TENANTS)
    event = load("v2-cross-tenant")
    event["triggerSource"] = "TokenGeneration_RefreshTokens"

    with pytest.raises(EmailDomainRefused, match=REFUSAL):
        handler(event, None)


def test_the_check_also_refuses_a_v1_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", TENANTS)
    event = load("v2-cross-tenant")
    event["version"] = "1"

    with pytest.raises(EmailDomainRefused, match=REFUSAL):
        handler(event, None)


def test_the_refusal_is_logged_with_provider_and_domain_never_the_address(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", TENANTS)

    with pytest.raises(EmailDomainRefused, match=REFUSAL):
        handler(load("v2-cross-tenant"), None)

    [record] = [r for r in caplog.records if r.name == "pre_token_groups"]
    assert json.loads(record.getMessage()) == {
        "event": "email_domain_refused",
        "source": "TokenGeneration_HostedAuth",
        "provider": "Fabrikam",
        "domain": "contoso.com",
    }
    assert "ceo@" not in caplog.text
    assert "mallory" not in caplog.text


def test_a_tenant_signing_in_its_own_domain_gets_its_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", json.dumps({"EntraID": ["contoso.com"]}))

    assert added(details("v2-groups"), "access") == {"groups": [ADMINS, PILOTS]}


def test_with_groups_disabled_an_allowed_token_is_returned_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROUPS_ENABLED", "false")
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", json.dumps({"EntraID": ["contoso.com"]}))
    event = load("v2-groups")
    sent = copy.deepcopy(event)

    assert handler(event, None) == sent


def test_a_malformed_tenant_variable_fails_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_EMAIL_DOMAINS", '{"EntraID": ')

    with pytest.raises(ConfigError, match="TENANT_EMAIL_DOMAINS is not valid JSON"):
        handler(load("v2-groups"), None)
