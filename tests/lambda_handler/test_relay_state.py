"""Custom::EntraSamlRelayState: the relay state Entra sends with IdP-initiated sign-in, set on
the service principal of an application deployed through the same handler (emulator)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from entra_saml_app.errors import ProvisioningError
from entra_saml_app.handler import handle_event, handle_is_complete

from tests.emulators import EntraEmulator, RecordedRequest
from tests.lambda_handler.conftest import Event, Provider, Response, load_event
from tests.lambda_handler.test_handler import untouchable

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
CHANGED = (
    "identity_provider=EntraID&client_id=7h2j4k6m8n0p1q3r5s7t9u1v3w"
    "&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&response_type=code&scope=openid+email"
)
FAILED_CREATE = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"


def relay_state_event(provider: Provider, data: dict[str, str], **props: Any) -> Event:
    """A Create of the relay state for the application whose Data is `data`."""
    values = {**provider.values, "ServicePrincipalId": data["ServicePrincipalId"]}
    event = load_event("relay-state-create", **values)
    event["ResourceProperties"].update(props)
    return event


def followed_by(created: Event, request_type: str, physical_id: str, **changes: Any) -> Event:
    """The Update or Delete CloudFormation sends after `created`."""
    event = copy.deepcopy(created)
    event["RequestType"] = request_type
    event["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = copy.deepcopy(created["ResourceProperties"])
        event["ResourceProperties"].update(changes)
    return event


def saml_settings(emulator: EntraEmulator, sp_id: str) -> Any:
    sp = next(sp for sp in emulator.service_principals() if sp["id"] == sp_id)
    return sp["samlSingleSignOnSettings"]


def relay_state_writes(emulator: EntraEmulator) -> list[RecordedRequest]:
    return [
        r
        for r in emulator.requests()
        if r.method in WRITES and "samlSingleSignOnSettings" in (r.json or {})
    ]


@pytest.fixture
def application(deployed: tuple[Event, Response]) -> dict[str, str]:
    """The Data of a deployed Custom::EntraSamlApplication."""
    data: dict[str, str] = deployed[1]["Data"]
    return data


@pytest.fixture
def relay_state(
    emulator: EntraEmulator, provider: Provider, application: dict[str, str]
) -> tuple[Event, Response]:
    """A finished Create of the relay state; the emulator's request log starts after it."""
    event = relay_state_event(provider, application)
    response = provider.deploy(event)
    emulator.clear_requests()
    return event, response


def test_create_sets_the_relay_state_on_the_service_principal(
    emulator: EntraEmulator, relay_state: tuple[Event, Response], application: dict[str, str]
) -> None:
    event, _ = relay_state

    settings = saml_settings(emulator, application["ServicePrincipalId"])

    assert settings == {"relayState": event["ResourceProperties"]["RelayState"]}


def test_create_answers_a_physical_id_naming_the_service_principal(
    relay_state: tuple[Event, Response], application: dict[str, str]
) -> None:
    event, response = relay_state
    sp_id = application["ServicePrincipalId"]

    assert response == {
        "PhysicalResourceId": f"{sp_id}/relay-state",
        "Data": {
            "ServicePrincipalId": sp_id,
            "RelayState": event["ResourceProperties"]["RelayState"],
        },
    }


def test_is_complete_answers_at_once_without_calling_anything(
    relay_state: tuple[Event, Response],
) -> None:
    event, response = relay_state

    answer = handle_is_complete({**event, **response}, None, untouchable("relay state"))

    assert answer == {"IsComplete": True}


def test_a_no_op_update_writes_nothing(
    emulator: EntraEmulator, provider: Provider, relay_state: tuple[Event, Response]
) -> None:
    event, response = relay_state

    again = provider.deploy(followed_by(event, "Update", response["PhysicalResourceId"]))

    assert again == response
    assert [r for r in emulator.requests() if r.method in WRITES] == []


def test_update_changes_the_relay_state(
    emulator: EntraEmulator,
    provider: Provider,
    relay_state: tuple[Event, Response],
    application: dict[str, str],
) -> None:
    event, response = relay_state
    update = followed_by(event, "Update", response["PhysicalResourceId"], RelayState=CHANGED)

    answer = provider.deploy(update)

    assert saml_settings(emulator, application["ServicePrincipalId"]) == {"relayState": CHANGED}
    assert answer["PhysicalResourceId"] == response["PhysicalResourceId"]
    assert len(relay_state_writes(emulator)) == 1


def test_delete_clears_the_relay_state(
    emulator: EntraEmulator,
    provider: Provider,
    relay_state: tuple[Event, Response],
    application: dict[str, str],
) -> None:
    event, response = relay_state

    provider.on_event(followed_by(event, "Delete", response["PhysicalResourceId"]))

    settings = saml_settings(emulator, application["ServicePrincipalId"])
    assert not (settings or {}).get("relayState")


def test_delete_after_the_application_is_gone_succeeds(
    emulator: EntraEmulator,
    provider: Provider,
    deployed: tuple[Event, Response],
    relay_state: tuple[Event, Response],
) -> None:
    app_event, app_response = deployed
    app_id = app_response["PhysicalResourceId"]
    provider.on_event(provider.delete_event(app_event, app_id))
    event, response = relay_state

    answer = provider.on_event(followed_by(event, "Delete", response["PhysicalResourceId"]))

    assert answer == {"PhysicalResourceId": response["PhysicalResourceId"]}
    assert emulator.service_principals() == []


def test_delete_after_a_failed_create_calls_nothing(
    provider: Provider, application: dict[str, str]
) -> None:
    rollback = followed_by(relay_state_event(provider, application), "Delete", FAILED_CREATE)

    answer = handle_event(rollback, None, untouchable("nothing was set"))

    assert answer == {"PhysicalResourceId": FAILED_CREATE}


def test_application_updates_leave_the_relay_state_alone(
    emulator: EntraEmulator,
    provider: Provider,
    deployed: tuple[Event, Response],
    relay_state: tuple[Event, Response],
) -> None:
    app_event, app_response = deployed
    event, _ = relay_state
    update = provider.update_event(app_event, app_response["PhysicalResourceId"])

    answer = provider.deploy(update)

    assert answer["Data"] == app_response["Data"]
    assert [r for r in emulator.requests() if r.method in WRITES] == []
    settings = saml_settings(emulator, app_response["Data"]["ServicePrincipalId"])
    assert settings == {"relayState": event["ResourceProperties"]["RelayState"]}


def test_a_service_principal_id_that_is_not_a_guid_fails_before_any_call() -> None:
    event = load_event(
        "relay-state-create",
        TenantId="7a4e3c1b-2d5f-4e6a-8b9c-0d1e2f3a4b5c",
        ServicePrincipalId="EntraSamlApplication7C1E4F2B",
        SecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-AbCdEf",
    )

    with pytest.raises(ProvisioningError) as failure:
        handle_event(event, None, untouchable("invalid ServicePrincipalId"))

    assert str(failure.value) == (
        "Property ServicePrincipalId='EntraSamlApplication7C1E4F2B' is invalid: expected the "
        "service principal's object id GUID (the Custom::EntraSamlApplication resource's "
        "Data.ServicePrincipalId)."
    )


def test_an_empty_relay_state_fails_before_any_call(
    provider: Provider, application: dict[str, str]
) -> None:
    event = relay_state_event(provider, application, RelayState="")

    with pytest.raises(ProvisioningError, match=r"^Property RelayState='' is invalid: it is requ"):
        handle_event(event, None, untouchable("empty RelayState"))


def test_an_unknown_service_principal_fails_naming_where_the_id_comes_from(
    monkeypatch: pytest.MonkeyPatch, provider: Provider, application: dict[str, str]
) -> None:
    monkeypatch.setenv("ENTRA_REPLICATION_SECONDS", "0.2")
    unknown = {"ServicePrincipalId": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"}

    with pytest.raises(ProvisioningError) as failure:
        provider.on_event(relay_state_event(provider, unknown))

    assert str(failure.value).startswith(
        "Service principal 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e does not exist in the tenant: "
        "ServicePrincipalId must be the Custom::EntraSamlApplication resource's "
        "Data.ServicePrincipalId"
    )


def test_create_rides_out_a_lagging_replica(
    emulator: EntraEmulator, provider: Provider, application: dict[str, str]
) -> None:
    sp_path = f"/servicePrincipals/{application['ServicePrincipalId']}$"
    emulator.fail_next("GET", sp_path, 404, "Request_ResourceNotFound", times=2)
    emulator.fail_next("PATCH", sp_path, 404, "Request_ResourceNotFound")
    event = relay_state_event(provider, application)

    provider.deploy(event)

    settings = saml_settings(emulator, application["ServicePrincipalId"])
    assert settings == {"relayState": event["ResourceProperties"]["RelayState"]}
    assert len([r for r in emulator.requests() if r.status == 404]) == 3


def test_create_retries_throttling(
    emulator: EntraEmulator, provider: Provider, application: dict[str, str]
) -> None:
    sp_path = f"/servicePrincipals/{application['ServicePrincipalId']}$"
    emulator.fail_next("PATCH", sp_path, 429, "TooManyRequests", retry_after=1)
    event = relay_state_event(provider, application)

    provider.deploy(event)

    settings = saml_settings(emulator, application["ServicePrincipalId"])
    assert settings == {"relayState": event["ResourceProperties"]["RelayState"]}


def test_update_to_another_service_principal_moves_the_physical_id(
    emulator: EntraEmulator,
    provider: Provider,
    seeded: set[str],
    relay_state: tuple[Event, Response],
) -> None:
    event, response = relay_state
    other = emulator.add_application("Replacement application")
    seeded.add(other["application"]["id"])
    other_sp = other["servicePrincipal"]["id"]
    update = followed_by(
        event, "Update", response["PhysicalResourceId"], ServicePrincipalId=other_sp
    )

    answer = provider.deploy(update)

    assert answer["PhysicalResourceId"] == f"{other_sp}/relay-state"
    assert saml_settings(emulator, other_sp) == {
        "relayState": event["ResourceProperties"]["RelayState"]
    }


def test_the_cleanup_delete_after_a_move_clears_the_old_service_principal(
    emulator: EntraEmulator,
    provider: Provider,
    seeded: set[str],
    relay_state: tuple[Event, Response],
    application: dict[str, str],
) -> None:
    event, response = relay_state
    other = emulator.add_application("Replacement application")
    seeded.add(other["application"]["id"])
    moved = followed_by(
        event,
        "Update",
        response["PhysicalResourceId"],
        ServicePrincipalId=other["servicePrincipal"]["id"],
    )
    provider.deploy(moved)
    # The physical id, not the properties, names the service principal to clear.
    cleanup = followed_by(moved, "Delete", response["PhysicalResourceId"])

    provider.on_event(cleanup)

    assert not (saml_settings(emulator, application["ServicePrincipalId"]) or {}).get("relayState")
    assert saml_settings(emulator, other["servicePrincipal"]["id"]) == {
        "relayState": event["ResourceProperties"]["RelayState"]
    }
