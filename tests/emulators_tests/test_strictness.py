"""What the emulator refuses, like Graph and Entra do: unknown or miscased properties, wrong
types, read-only properties, missing or foreign tokens, missing permissions, bad secrets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential as SyncClientSecretCredential
from azure.identity.aio import ClientSecretCredential
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.web_application import WebApplication

from tests.emulators import EntraEmulator
from tests.emulators.clients import (
    GRAPH_SCOPES,
    certificate_credential,
    graph_client,
    run,
    secret_credential,
)


def patch_app(emulator: EntraEmulator, app: Application) -> ODataError:
    object_id = emulator.add_application("Strict")["application"]["id"]

    async def scenario() -> ODataError:
        async with secret_credential(emulator) as credential:
            with pytest.raises(ODataError) as refused:
                await (
                    graph_client(emulator, credential)
                    .applications.by_application_id(object_id)
                    .patch(app)
                )
            return refused.value

    return run(scenario())


def raw_graph(
    emulator: EntraEmulator, method: str, path: str, body: Any = None, token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(
        method,
        f"{emulator.graph_base_url}/v1.0{path}",
        headers=headers,
        content=None if body is None else json.dumps(body).encode(),
        timeout=10,
    )


def test_a_miscased_property_is_refused(emulator: EntraEmulator) -> None:
    error = patch_app(emulator, Application(additional_data={"identifierURIs": ["urn:x"]}))
    assert error.response_status_code == 400
    assert error.error is not None
    assert "'identifierURIs' does not exist" in (error.error.message or "")
    assert emulator.applications()[0]["identifierUris"] == []


def test_an_unknown_nested_property_is_refused(emulator: EntraEmulator) -> None:
    web = WebApplication(additional_data={"logoutURL": "https://x.example/logout"})
    error = patch_app(emulator, Application(web=web))
    assert error.response_status_code == 400
    assert error.error is not None
    assert "microsoft.graph.webApplication" in (error.error.message or "")


def test_a_wrongly_typed_value_is_refused(emulator: EntraEmulator) -> None:
    object_id = emulator.add_application("Typed")["application"]["id"]
    token = emulator.issue_access_token()
    for body in ({"notes": 5}, {"identifierUris": "urn:x"}, {"tags": [1]}):
        answer = raw_graph(emulator, "PATCH", f"/applications/{object_id}", body, token)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] == "BadRequest"


def test_a_body_without_a_json_content_type_is_refused(emulator: EntraEmulator) -> None:
    object_id = emulator.add_application("Typed")["application"]["id"]
    answer = httpx.patch(
        f"{emulator.graph_base_url}/v1.0/applications/{object_id}",
        headers={"Authorization": f"Bearer {emulator.issue_access_token()}"},
        content=b'{"notes": "x"}',
    )
    assert answer.status_code == 400
    assert "Content-Type" in answer.json()["error"]["message"]


def test_read_only_and_service_action_properties_are_refused(emulator: EntraEmulator) -> None:
    error = patch_app(emulator, Application(app_id="00000000-0000-0000-0000-000000000001"))
    assert error.error is not None
    assert "read-only" in (error.error.message or "")


def test_a_request_without_a_bearer_token_is_refused(emulator: EntraEmulator) -> None:
    answer = raw_graph(emulator, "GET", "/applications")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert answer.json()["error"]["message"] == "Access token is empty."
    assert "Bearer" in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("token_kwargs", "message"),
    [
        ({"audience": "https://management.azure.com"}, "Invalid audience"),
        ({"lifetime_seconds": -60}, "expired"),
    ],
)
def test_a_token_for_another_resource_or_expired_is_refused(
    emulator: EntraEmulator, token_kwargs: dict[str, Any], message: str
) -> None:
    token = emulator.issue_access_token(**token_kwargs)
    answer = raw_graph(emulator, "GET", "/applications", token=token)
    assert answer.status_code == 401
    assert message in answer.json()["error"]["message"]
    assert raw_graph(emulator, "GET", "/applications", token="not.a.jwt").status_code == 401


def test_missing_application_permissions_answer_403(emulator: EntraEmulator) -> None:
    emulator.set_roles(["Application.Read.All"])
    token = emulator.issue_access_token()
    assert raw_graph(emulator, "GET", "/applications", token=token).status_code == 200
    answer = raw_graph(
        emulator,
        "POST",
        f"/applicationTemplates/{emulator.template_id}/instantiate",
        {"displayName": "x"},
        token,
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Authorization_RequestDenied"
    assert emulator.applications() == []


def test_a_base_url_with_a_trailing_slash_is_refused(emulator: EntraEmulator) -> None:
    async def scenario() -> int | None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            client.request_adapter.base_url = emulator.graph_base_url + "/v1.0/"
            with pytest.raises(
                ODataError, match=r"^Resource not found for the segment '' in '/v1\.0//applications"
            ) as refused:
                await client.applications.get()
            return refused.value.response_status_code

    assert run(scenario()) == 400


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(emulator: EntraEmulator) -> None:
    async def scenario() -> None:
        async with ClientSecretCredential(
            emulator.tenant_id,
            emulator.client_id,
            "wrong",
            authority=emulator.authority_url,
            disable_instance_discovery=True,
            connection_verify=str(emulator.ca_bundle),
        ) as credential:
            with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
                await credential.get_token(*GRAPH_SCOPES)

    run(scenario())


def test_a_certificate_credential_gets_a_graph_token(emulator: EntraEmulator) -> None:
    async def scenario() -> int:
        async with certificate_credential(emulator) as credential:
            page = await graph_client(emulator, credential).applications.get()
            return len(page.value or []) if page else -1

    assert run(scenario()) == 0
    (token_request,) = emulator.requests("authority")
    assert token_request.form is not None
    assert token_request.form["client_assertion"] == "***"


def test_an_unregistered_certificate_is_refused(emulator: EntraEmulator) -> None:
    async def scenario() -> None:
        async with certificate_credential(emulator, register=False) as credential:
            with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
                await credential.get_token(*GRAPH_SCOPES)

    run(scenario())


def test_msal_through_the_sync_credential_discovers_and_gets_a_token(
    emulator: EntraEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync credential goes through MSAL, which reads the OpenID configuration first.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
    credential = SyncClientSecretCredential(
        emulator.tenant_id,
        emulator.client_id,
        emulator.client_secret,
        authority=emulator.authority_url,
        disable_instance_discovery=True,
    )
    token = credential.get_token(*GRAPH_SCOPES)
    assert raw_graph(emulator, "GET", "/applications", token=token.token).status_code == 200
    paths = [r.path for r in emulator.requests("authority")]
    assert paths == [
        f"/{emulator.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{emulator.tenant_id}/oauth2/v2.0/token",
    ]


def test_responses_carry_only_properties_the_sdk_models_know(emulator: EntraEmulator) -> None:
    seeded = emulator.add_application("Shapes")
    for payload, model in (
        (seeded["application"], Application),
        (seeded["servicePrincipal"], ServicePrincipal),
    ):
        parsed = (
            JsonParseNodeFactory()
            .get_root_parse_node("application/json", json.dumps(payload).encode())
            .get_object_value(model)
        )
        assert parsed.additional_data == {}
