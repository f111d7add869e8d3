"""App registrations as `mobile-sso bootstrap-entra` makes them: the uniqueName upsert,
service principals, client secrets, uploaded certificates, federated identity credentials and
Microsoft Graph's app roles, each refused where Graph refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.emulators import EntraEmulator
from tests.emulators._pki import make_client_certificate
from tests.emulators.entra import CLOUD_APPLICATION_ADMINISTRATOR

UPSERT = "/applications(uniqueName='deployer-one')"
CREATE_IF_MISSING = {"Prefer": "create-if-missing"}


def graph(
    emulator: EntraEmulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> httpx.Response:
    sent = {"Authorization": f"Bearer {token or emulator.issue_admin_token()}", **(headers or {})}
    if body is not None:
        sent["Content-Type"] = "application/json"
    return httpx.request(
        method,
        f"{emulator.graph_base_url}/v1.0{path}",
        headers=sent,
        content=None if body is None else json.dumps(body).encode(),
        timeout=10,
    )


def made_app(emulator: EntraEmulator) -> dict[str, Any]:
    created = graph(emulator, "PATCH", UPSERT, {"displayName": "D"}, headers=CREATE_IF_MISSING)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_upsert_without_prefer_on_a_missing_unique_name_is_404(emulator: EntraEmulator) -> None:
    response = graph(emulator, "PATCH", UPSERT, {"displayName": "D"})

    assert response.status_code == 404
    assert emulator.applications() == []


def test_upsert_creates_once_then_updates(emulator: EntraEmulator) -> None:
    first = made_app(emulator)

    again = graph(emulator, "PATCH", UPSERT, {"displayName": "E"}, headers=CREATE_IF_MISSING)

    assert again.status_code == 204
    (application,) = emulator.applications()
    assert (application["id"], application["uniqueName"]) == (first["id"], "deployer-one")
    assert application["displayName"] == "E"


def test_create_with_a_miscased_property_is_refused(emulator: EntraEmulator) -> None:
    response = graph(emulator, "POST", "/applications", {"displayName": "D", "SignInAudience": "x"})

    assert response.status_code == 400
    assert "'SignInAudience' does not exist" in response.json()["error"]["message"]


def test_second_service_principal_for_an_app_is_a_conflict(emulator: EntraEmulator) -> None:
    app_id = made_app(emulator)["appId"]
    assert graph(emulator, "POST", "/servicePrincipals", {"appId": app_id}).status_code == 201

    response = graph(emulator, "POST", "/servicePrincipals", {"appId": app_id})

    assert response.status_code == 409


def test_add_password_answers_the_secret_once_and_keeps_only_its_hint(
    emulator: EntraEmulator,
) -> None:
    object_id = made_app(emulator)["id"]
    body = {"passwordCredential": {"displayName": "x", "endDateTime": "2099-01-01T00:00:00Z"}}

    made = graph(emulator, "POST", f"/applications/{object_id}/addPassword", body).json()

    (stored,) = graph(emulator, "GET", f"/applications/{object_id}").json()["passwordCredentials"]
    assert len(made["secretText"]) == 40
    assert stored["secretText"] is None
    assert stored["hint"] == made["secretText"][:3]


def test_certificate_key_is_shown_only_when_key_credentials_are_selected(
    emulator: EntraEmulator,
) -> None:
    object_id = made_app(emulator)["id"]
    der = make_client_certificate().der
    key = base64.b64encode(der).decode()
    credential = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}
    patched = graph(
        emulator, "PATCH", f"/applications/{object_id}", {"keyCredentials": [credential]}
    )
    assert patched.status_code == 204, patched.text

    plain = graph(emulator, "GET", f"/applications/{object_id}").json()
    selected = graph(emulator, "GET", f"/applications/{object_id}?$select=id,keyCredentials").json()

    assert plain["keyCredentials"][0]["key"] is None
    assert selected["keyCredentials"][0]["key"] == key


def test_federated_credential_needs_exactly_one_audience(emulator: EntraEmulator) -> None:
    object_id = made_app(emulator)["id"]
    body = {
        "name": "handler",
        "issuer": "https://issuer.example.com",
        "subject": "role",
        "audiences": ["api://AzureADTokenExchange", "other"],
    }

    response = graph(
        emulator, "POST", f"/applications/{object_id}/federatedIdentityCredentials", body
    )

    assert response.status_code == 400
    assert "audiences" in response.json()["error"]["message"]


def test_federated_credentials_are_stored_on_the_app_but_not_shown_inline(
    emulator: EntraEmulator,
) -> None:
    object_id = made_app(emulator)["id"]
    body = {
        "name": "handler",
        "issuer": "https://issuer.example.com",
        "subject": "role",
        "audiences": ["api://AzureADTokenExchange"],
    }
    path = f"/applications/{object_id}/federatedIdentityCredentials"
    assert graph(emulator, "POST", path, body).status_code == 201

    duplicate = graph(emulator, "POST", path, body)

    assert duplicate.status_code == 409
    assert emulator.applications()[0]["federatedIdentityCredentials"] == [
        {**body, "description": None}
    ]
    assert (
        "federatedIdentityCredentials"
        not in graph(emulator, "GET", f"/applications/{object_id}").json()
    )


def test_only_consent_admins_may_grant_microsoft_graph_app_roles(emulator: EntraEmulator) -> None:
    app_id = made_app(emulator)["appId"]
    sp_id = graph(emulator, "POST", "/servicePrincipals", {"appId": app_id}).json()["id"]
    graph_sp = emulator.microsoft_graph_sp_id
    body = {
        "principalId": sp_id,
        "resourceId": graph_sp,
        "appRoleId": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    }
    cloud_app_admin = emulator.issue_admin_token(directory_roles=[CLOUD_APPLICATION_ADMINISTRATOR])
    path = f"/servicePrincipals/{graph_sp}/appRoleAssignedTo"

    refused = graph(emulator, "POST", path, body, token=cloud_app_admin)
    granted = graph(emulator, "POST", path, body)

    assert refused.status_code == 403
    assert granted.status_code == 201
    assert [a["principalType"] for a in emulator.granted_app_roles(sp_id)] == ["ServicePrincipal"]


def test_microsoft_graph_is_not_among_the_tenants_own_service_principals(
    emulator: EntraEmulator,
) -> None:
    response = graph(
        emulator, "GET", "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')"
    )

    assert response.json()["id"] == emulator.microsoft_graph_sp_id
    assert emulator.service_principals() == []


def test_a_second_credential_for_the_same_issuer_and_subject_is_a_400_value_error(
    emulator: EntraEmulator,
) -> None:
    object_id = made_app(emulator)["id"]
    body = {
        "name": "handler",
        "issuer": "https://issuer.example.com",
        "subject": "role",
        "audiences": ["api://AzureADTokenExchange"],
    }
    path = f"/applications/{object_id}/federatedIdentityCredentials"
    assert graph(emulator, "POST", path, body).status_code == 201

    other = graph(emulator, "POST", path, {**body, "name": "by-hand"})
    same_name = graph(emulator, "POST", path, {**body, "subject": "another-role"})

    assert other.status_code == 400
    assert other.json()["error"]["code"] == "InvalidFederatedIdentityCredentialValue"
    assert same_name.status_code == 409
    assert same_name.json()["error"]["code"] == "Request_MultipleObjectsWithSameKeyValue"
    assert "with name handler already exists" in same_name.json()["error"]["message"]
