"""Each injected fault behaves as specified when the real SDK meets it."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
    InstantiatePostRequestBody,
)
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501
    AddTokenSigningCertificatePostRequestBody,
)

from tests.emulators import EntraEmulator
from tests.emulators.clients import (
    fetch_metadata,
    graph_client,
    metadata_signing_thumbprints,
    run,
    secret_credential,
)
from tests.polling import wait_until

INSTANTIATE = r"/applicationTemplates/[^/]+/instantiate$"


def instantiate_body(name: str = "Faulty") -> InstantiatePostRequestBody:
    return InstantiatePostRequestBody(display_name=name)


def test_replication_lag_answers_404_to_the_first_requests_by_id(
    emulator: EntraEmulator,
) -> None:
    emulator.replication_lag(requests=2)

    async def scenario() -> list[int]:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            created = await client.application_templates.by_application_template_id(
                emulator.template_id
            ).instantiate.post(instantiate_body())
            assert created
            assert created.application
            assert created.application.id
            app = client.applications.by_application_id(created.application.id)
            statuses: list[int] = []
            for _ in range(2):
                with pytest.raises(ODataError) as lagging:
                    await app.patch(Application(notes="ours"))
                assert lagging.value.error is not None
                assert lagging.value.error.code == "Request_ResourceNotFound"
                statuses.append(lagging.value.response_status_code or 0)
            await app.patch(Application(notes="ours"))
            listed = await client.applications.get()
            assert listed
            assert listed.value
            assert len(listed.value) == 1
            return statuses

    assert run(scenario()) == [404, 404]
    assert emulator.applications()[0]["notes"] == "ours"


def test_replication_lag_can_hide_new_objects_from_lists_too(emulator: EntraEmulator) -> None:
    emulator.replication_lag(requests=1, lists=True)
    created = emulator.add_application("Seeded before")  # seeding never lags
    token = emulator.issue_access_token()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{emulator.graph_base_url}/v1.0"
    answer = httpx.post(
        f"{url}/applicationTemplates/{emulator.template_id}/instantiate",
        json={"displayName": "Lagging"},
        headers=headers,
    )
    new_id = answer.json()["application"]["id"]
    listed = httpx.get(f"{url}/applications", headers=headers).json()["value"]
    assert [a["id"] for a in listed] == [created["application"]["id"]]
    assert httpx.get(f"{url}/applications/{new_id}", headers=headers).status_code == 404
    assert len(httpx.get(f"{url}/applications", headers=headers).json()["value"]) == 2


def test_throttling_is_retried_by_the_sdk_after_retry_after(emulator: EntraEmulator) -> None:
    emulator.fail_next("GET", r"/applications$", 429, "TooManyRequests", retry_after=1)

    async def scenario() -> float:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            await client.applications.get()  # token and first-use costs out of the timing
            emulator.fail_next("GET", r"/applications$", 429, "TooManyRequests", retry_after=1)
            started = time.monotonic()
            await client.applications.get()
            return time.monotonic() - started

    assert run(scenario()) >= 1.0
    statuses = [(r.status, r.fault) for r in emulator.requests()]
    assert statuses == [(429, "injected"), (200, None), (429, "injected"), (200, None)]


def test_a_503_after_commit_makes_the_sdk_create_a_duplicate(emulator: EntraEmulator) -> None:
    emulator.fail_next(
        "POST", INSTANTIATE, 503, "serviceNotAvailable", retry_after=1, after_commit=True
    )

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            await (
                graph_client(emulator, credential)
                .application_templates.by_application_template_id(emulator.template_id)
                .instantiate.post(instantiate_body("Twice"))
            )

    run(scenario())
    assert [a["displayName"] for a in emulator.applications()] == ["Twice", "Twice"]
    assert [r.status for r in emulator.requests()] == [503, 201]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "InternalServerError"),
        (403, "Authorization_RequestDenied"),
        (409, "Request_MultipleObjectsWithSameKeyValue"),
    ],
)
def test_errors_the_sdk_does_not_retry_reach_the_caller(
    emulator: EntraEmulator, status: int, code: str
) -> None:
    emulator.fail_next("POST", INSTANTIATE, status, code)

    async def scenario() -> ODataError:
        async with secret_credential(emulator) as credential:
            with pytest.raises(ODataError) as refused:
                await (
                    graph_client(emulator, credential)
                    .application_templates.by_application_template_id(emulator.template_id)
                    .instantiate.post(instantiate_body())
                )
            return refused.value

    error = run(scenario())
    assert error.response_status_code == status
    assert error.error is not None
    assert error.error.code == code
    if status == 403:
        assert error.error.message == "Insufficient privileges to complete the operation."
    assert emulator.applications() == []
    assert len(emulator.requests()) == 1


def test_metadata_lag_serves_the_previous_certificate_for_n_fetches(
    emulator: EntraEmulator,
) -> None:
    seeded = emulator.add_application("Rollover")
    sp_id, app_id = seeded["servicePrincipal"]["id"], seeded["application"]["appId"]
    emulator.metadata_lag(fetches=2)

    async def activate_new_certificate() -> str:
        async with secret_credential(emulator) as credential:
            sp = graph_client(emulator, credential).service_principals.by_service_principal_id(
                sp_id
            )
            cert = await sp.add_token_signing_certificate.post(
                AddTokenSigningCertificatePostRequestBody(display_name="CN=Rollover")
            )
            assert cert
            assert cert.thumbprint
            await sp.patch(ServicePrincipal(preferred_token_signing_key_thumbprint=cert.thumbprint))
            return cert.thumbprint

    def served() -> list[str]:
        return metadata_signing_thumbprints(fetch_metadata(emulator, app_id).content)

    tenant_default = served()
    first = run(activate_new_certificate())
    assert [served(), served(), served()] == [tenant_default, tenant_default, [first]]
    second = run(activate_new_certificate())
    # Entra lists inactive certificates too, the active one first.
    assert [served(), served(), served()] == [[first], [first], [second, first]]


def test_a_slow_answer_times_out_but_the_operation_still_happens(
    emulator: EntraEmulator,
) -> None:
    emulator.slow_next("POST", INSTANTIATE, seconds=1.5)

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential, timeout=0.5)
            await client.applications.get()  # first-use costs out of the timed request
            with pytest.raises(httpx.ReadTimeout):  # httpx gives it no message
                await client.application_templates.by_application_template_id(
                    emulator.template_id
                ).instantiate.post(instantiate_body("Slow"))

    run(scenario())
    wait_until(lambda: emulator.in_flight() == 0, "the timed-out instantiate to land")
    assert [a["displayName"] for a in emulator.applications()] == ["Slow"]


def test_a_dropped_connection_after_commit_leaves_the_object(emulator: EntraEmulator) -> None:
    emulator.drop_next("POST", INSTANTIATE, after_commit=True)

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            with pytest.raises(
                httpx.TransportError, match=r"^Server disconnected without sending a response\.$"
            ):
                await (
                    graph_client(emulator, credential)
                    .application_templates.by_application_template_id(emulator.template_id)
                    .instantiate.post(instantiate_body("Dropped"))
                )

    run(scenario())
    assert [a["displayName"] for a in emulator.applications()] == ["Dropped"]
    assert emulator.requests()[0].fault == "dropped"


def test_a_token_endpoint_fault_reaches_the_credential(emulator: EntraEmulator) -> None:
    emulator.fail_next("POST", r"/oauth2/v2.0/token$", 400, "invalid_request", "AADSTS90014")

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            with pytest.raises(ClientAuthenticationError, match="AADSTS90014"):
                await credential.get_token("https://graph.microsoft.com/.default")

    run(scenario())


def test_the_clock_dates_certificates(emulator: EntraEmulator) -> None:
    emulator.clock.set(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    sp_id = emulator.add_application("Clocked")["servicePrincipal"]["id"]

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            sp = graph_client(emulator, credential).service_principals.by_service_principal_id(
                sp_id
            )
            cert = await sp.add_token_signing_certificate.post(
                AddTokenSigningCertificatePostRequestBody(
                    display_name="CN=Clocked",
                    end_date_time=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
                )
            )
            assert cert
            assert cert.start_date_time == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
            emulator.clock.advance(dt.timedelta(days=800))
            with pytest.raises(  # 2031-01-01 is now in the past
                ODataError, match=r"^Invalid value specified for property 'endDateTime' "
            ):
                await sp.add_token_signing_certificate.post(
                    AddTokenSigningCertificatePostRequestBody(
                        display_name="CN=Clocked",
                        end_date_time=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
                    )
                )

    run(scenario())
    (info,) = emulator.signing_certificates(sp_id)
    assert (info.start, info.end) == ("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z")
    assert b"PRIVATE KEY" in info.key_pem
