"""The documented non-gallery SAML sequence, driven by the real msgraph-sdk and azure-identity
against the emulator, and the directory rules it runs into."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
    InstantiatePostRequestBody,
)
from msgraph.generated.applications.applications_request_builder import (
    ApplicationsRequestBuilder,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.application_service_principal import ApplicationServicePrincipal
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.web_application import WebApplication
from msgraph.generated.service_principals.item.add_token_signing_certificate.add_token_signing_certificate_post_request_body import (  # noqa: E501
    AddTokenSigningCertificatePostRequestBody,
)
from msgraph.generated.service_principals.service_principals_request_builder import (
    ServicePrincipalsRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient

from tests.emulators import EntraEmulator
from tests.emulators.clients import (
    fetch_metadata,
    graph_client,
    metadata_signing_thumbprints,
    run,
    secret_credential,
)

USER_ROLE = uuid.UUID("18d14569-c3bd-439b-9a66-3a2aee01d14f")
POOL = "eu-west-1_Abc123"
ENTITY_ID = f"urn:amazon:cognito:sp:{POOL}"
DOMAIN = "https://mobile.auth.eu-west-1.amazoncognito.com"


async def instantiate(client: GraphServiceClient, name: str) -> ApplicationServicePrincipal:
    created = await client.application_templates.by_application_template_id(
        EntraEmulator.template_id
    ).instantiate.post(InstantiatePostRequestBody(display_name=name))
    assert created is not None
    return created


def app_filter(expression: str) -> RequestConfiguration[Any]:
    return RequestConfiguration(
        query_parameters=ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=expression
        )
    )


def sp_filter(expression: str) -> RequestConfiguration[Any]:
    query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters
    return RequestConfiguration(query_parameters=query(filter=expression))


def graph_error(info: pytest.ExceptionInfo[ODataError]) -> tuple[int, str, str]:
    error = info.value
    assert error.error is not None
    return error.response_status_code or 0, error.error.code or "", error.error.message or ""


def test_documented_sequence_produces_a_working_saml_app(emulator: EntraEmulator) -> None:
    user_id = emulator.add_user("Ada")
    group_id = emulator.add_group("Mobile users")

    async def scenario() -> tuple[str, str, str]:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            created = await instantiate(client, "Mobile SSO")
            assert created.application
            assert created.service_principal
            app_object_id = created.application.id or ""
            sp_id = created.service_principal.id or ""
            sp = client.service_principals.by_service_principal_id(sp_id)
            await sp.patch(
                ServicePrincipal(
                    preferred_single_sign_on_mode="saml",
                    app_role_assignment_required=True,
                    notes="stack=arn:aws:cloudformation:eu-west-1:1:stack/s/1 logical=Sso",
                    tags=["WindowsAzureActiveDirectoryCustomSingleSignOnApplication", "ours"],
                )
            )
            await client.applications.by_application_id(app_object_id).patch(
                Application(
                    identifier_uris=[ENTITY_ID],
                    web=WebApplication(
                        redirect_uris=[f"{DOMAIN}/saml2/idpresponse"],
                        logout_url=f"{DOMAIN}/saml2/logout",
                    ),
                )
            )
            cert = await sp.add_token_signing_certificate.post(
                AddTokenSigningCertificatePostRequestBody(
                    display_name="CN=Mobile SSO",
                    end_date_time=dt.datetime.now(dt.UTC) + dt.timedelta(days=365),
                )
            )
            assert cert is not None
            assert cert.thumbprint
            await sp.patch(ServicePrincipal(preferred_token_signing_key_thumbprint=cert.thumbprint))
            for principal in (user_id, group_id):
                await sp.app_role_assigned_to.post(
                    AppRoleAssignment(
                        principal_id=uuid.UUID(principal),
                        resource_id=uuid.UUID(sp_id),
                        app_role_id=USER_ROLE,
                    )
                )
            listed = await sp.app_role_assigned_to.get()
            assert listed is not None
            assert listed.value is not None
            assert {str(a.principal_id) for a in listed.value} == {user_id, group_id}
            return app_object_id, created.application.app_id or "", cert.thumbprint

    app_object_id, app_id, thumbprint = run(scenario())

    (service_principal,) = emulator.service_principals()
    assert service_principal["preferredSingleSignOnMode"] == "saml"
    assert service_principal["preferredTokenSigningKeyThumbprint"] == thumbprint
    assert service_principal["replyUrls"] == [f"{DOMAIN}/saml2/idpresponse"]
    assert ENTITY_ID in service_principal["servicePrincipalNames"]
    assert {k["usage"] for k in service_principal["keyCredentials"]} == {"Sign", "Verify"}
    (application,) = emulator.applications()
    assert application["web"]["logoutUrl"] == f"{DOMAIN}/saml2/logout"
    assert len(emulator.assignments(service_principal["id"])) == 2

    metadata = fetch_metadata(emulator, app_id)
    assert metadata.status_code == 200
    assert f'entityID="https://sts.windows.net/{emulator.tenant_id}/"' in metadata.text
    assert f"{emulator.authority_url}/{emulator.tenant_id}/saml2" in metadata.text
    assert metadata_signing_thumbprints(metadata.content) == [thumbprint]

    async def delete() -> None:
        async with secret_credential(emulator) as credential:
            await (
                graph_client(emulator, credential)
                .applications.by_application_id(app_object_id)
                .delete()
            )

    run(delete())
    assert emulator.applications() == []
    assert emulator.service_principals() == []
    (deleted,) = emulator.deleted_applications()
    assert deleted["id"] == app_object_id
    assert deleted["deletedDateTime"]
    assert fetch_metadata(emulator, app_id).status_code == 400


def test_identifier_uri_held_by_a_soft_deleted_app_is_refused_until_purged(
    emulator: EntraEmulator,
) -> None:
    deleted_id = emulator.add_soft_deleted_application(identifier_uri=ENTITY_ID)

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            created = await instantiate(client, "Again")
            assert created.application
            assert created.application.id
            app = client.applications.by_application_id(created.application.id)
            with pytest.raises(ODataError) as refused:
                await app.patch(Application(identifier_uris=[ENTITY_ID.upper()]))
            assert graph_error(refused) == (
                400,
                "Request_BadRequest",
                "Another object with the same value for property identifierUris already exists.",
            )
            details = refused.value.error.details if refused.value.error else None
            assert details
            assert details[0].code == "ObjectConflict"
            assert details[0].target == "identifierUris"

            gone = await client.directory.deleted_items.graph_application.get()
            assert gone
            assert gone.value
            assert [a.id for a in gone.value] == [deleted_id]
            await client.directory.deleted_items.by_directory_object_id(deleted_id).delete()
            await app.patch(Application(identifier_uris=[ENTITY_ID]))

    run(scenario())
    assert emulator.deleted_applications() == []
    assert emulator.applications()[0]["identifierUris"] == [ENTITY_ID]


def test_identifier_uri_held_by_a_live_app_is_refused(emulator: EntraEmulator) -> None:
    emulator.add_application("First", identifier_uris=[ENTITY_ID])

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            created = await instantiate(client, "Second")
            assert created.application
            assert created.application.id
            with pytest.raises(
                ODataError, match=r"^Another object with the same value for property identifierUris"
            ) as refused:
                await client.applications.by_application_id(created.application.id).patch(
                    Application(identifier_uris=[ENTITY_ID])
                )
            assert graph_error(refused)[0] == 400

    run(scenario())


def test_filters_a_handler_uses_to_find_its_app(emulator: EntraEmulator) -> None:
    ours = emulator.add_application(
        "Mobile O'Brien", tags=["stack:abc"], identifier_uris=[ENTITY_ID]
    )
    emulator.add_application("Someone else's", tags=["stack:xyz"])
    app_id = ours["application"]["appId"]

    async def scenario() -> list[list[str]]:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            found: list[list[str]] = []
            for expression in (
                "displayName eq 'Mobile O''Brien'",
                f"appId eq '{app_id}'",
                "tags/any(t:t eq 'stack:abc')",
                f"identifierUris/any(x:x eq '{ENTITY_ID}')",
                "startswith(displayName,'mobile')",
            ):
                page = await client.applications.get(app_filter(expression))
                assert page is not None
                assert page.value is not None
                found.append([a.app_id or "" for a in page.value])
            for expression in (
                f"appId eq '{app_id}'",
                f"servicePrincipalNames/any(n:n eq '{ENTITY_ID}')",
            ):
                sps = await client.service_principals.get(sp_filter(expression))
                assert sps is not None
                assert sps.value is not None
                found.append([s.app_id or "" for s in sps.value])
            return found

    assert run(scenario()) == [[app_id]] * 7


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("notes eq 'x'", "Request_UnsupportedQuery"),
        ("displayName ne 'x'", "Request_UnsupportedQuery"),
        ("displayName eq", "BadRequest"),
        ("tags/any(t:t eq 'x'", "BadRequest"),
    ],
)
def test_unsupported_or_broken_filters_are_refused(
    emulator: EntraEmulator, expression: str, code: str
) -> None:
    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            with pytest.raises(ODataError) as refused:
                await graph_client(emulator, credential).applications.get(app_filter(expression))
            assert graph_error(refused)[:2] == (400, code)

    run(scenario())


def test_deleting_a_saml_service_principal_directly_is_refused(emulator: EntraEmulator) -> None:
    seeded = emulator.add_application("SAML")
    sp_id = seeded["servicePrincipal"]["id"]

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            sp = graph_client(emulator, credential).service_principals.by_service_principal_id(
                sp_id
            )
            await sp.patch(ServicePrincipal(preferred_single_sign_on_mode="saml"))
            with pytest.raises(
                ODataError, match=r"^The service principal of a SAML application cannot be deleted"
            ) as refused:
                await sp.delete()
            assert graph_error(refused)[0] == 400

    run(scenario())
    assert len(emulator.service_principals()) == 1


def test_assignment_rules(emulator: EntraEmulator) -> None:
    seeded = emulator.add_application("Assign")
    sp_id = seeded["servicePrincipal"]["id"]
    user_id = emulator.add_user()

    def assignment(principal: str, role: uuid.UUID = USER_ROLE) -> AppRoleAssignment:
        return AppRoleAssignment(
            principal_id=uuid.UUID(principal), resource_id=uuid.UUID(sp_id), app_role_id=role
        )

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            assigned = (
                graph_client(emulator, credential)
                .service_principals.by_service_principal_id(sp_id)
                .app_role_assigned_to
            )
            unknown_user = r"^Invalid value specified for property 'principalId'"
            unknown_role = r"^Permission being assigned was not found on application "
            for bad, reason in (
                (assignment(str(uuid.uuid4())), unknown_user),
                (assignment(user_id, uuid.UUID(int=0)), unknown_role),
                (assignment(user_id, uuid.uuid4()), unknown_role),
            ):
                with pytest.raises(ODataError, match=reason) as refused:
                    await assigned.post(bad)
                assert graph_error(refused)[0] == 400
            made = await assigned.post(assignment(user_id))
            assert made is not None
            assert made.id
            assert made.principal_type == "User"
            with pytest.raises(ODataError) as duplicate:
                await assigned.post(assignment(user_id))
            assert "already exists" in graph_error(duplicate)[2]
            await assigned.by_app_role_assignment_id(made.id).delete()

    run(scenario())
    assert emulator.assignments(sp_id) == []


def test_activating_a_certificate_the_app_does_not_have_is_refused(
    emulator: EntraEmulator,
) -> None:
    sp_id = emulator.add_application("No cert")["servicePrincipal"]["id"]

    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            sp = graph_client(emulator, credential).service_principals.by_service_principal_id(
                sp_id
            )
            with pytest.raises(
                ODataError,
                match=r"^Invalid value specified for property 'preferredTokenSigningKeyThumbprint'",
            ) as refused:
                await sp.patch(ServicePrincipal(preferred_token_signing_key_thumbprint="AB" * 20))
            assert graph_error(refused)[0] == 400
            for name, end, bad_property in (
                ("Contoso", None, "displayName"),
                ("CN=Contoso", dt.datetime.now(dt.UTC) - dt.timedelta(days=1), "endDateTime"),
                ("CN=Contoso", dt.datetime.now(dt.UTC) + dt.timedelta(days=4 * 365), "endDateTime"),
            ):
                with pytest.raises(
                    ODataError, match=rf"^Invalid value specified for property '{bad_property}'"
                ) as bad_cert:
                    await sp.add_token_signing_certificate.post(
                        AddTokenSigningCertificatePostRequestBody(
                            display_name=name, end_date_time=end
                        )
                    )
                assert graph_error(bad_cert)[0] == 400

    run(scenario())


def test_unknown_ids_are_404_and_malformed_ids_400(emulator: EntraEmulator) -> None:
    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            missing = str(uuid.uuid4())
            with pytest.raises(ODataError) as get_missing:
                await client.applications.by_application_id(missing).get()
            assert graph_error(get_missing)[:2] == (404, "Request_ResourceNotFound")
            with pytest.raises(ODataError) as patch_missing:
                await client.service_principals.by_service_principal_id(missing).patch(
                    ServicePrincipal(notes="x")
                )
            assert graph_error(patch_missing)[:2] == (404, "Request_ResourceNotFound")
            with pytest.raises(ODataError) as malformed:
                await client.applications.by_application_id("not-a-guid").get()
            assert graph_error(malformed)[:2] == (400, "Request_BadRequest")

    run(scenario())


def test_alternate_key_app_id_addresses_the_same_objects(emulator: EntraEmulator) -> None:
    seeded = emulator.add_application("By appId")
    app_id = seeded["application"]["appId"]

    async def scenario() -> tuple[str | None, str | None]:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            app = await client.applications_with_app_id(app_id).get()
            sp = await client.service_principals_with_app_id(app_id).get()
            return (app.id if app else None), (sp.id if sp else None)

    assert run(scenario()) == (seeded["application"]["id"], seeded["servicePrincipal"]["id"])


def test_concurrent_requests_are_served_consistently(emulator: EntraEmulator) -> None:
    async def scenario() -> None:
        async with secret_credential(emulator) as credential:
            client = graph_client(emulator, credential)
            await asyncio.gather(*(instantiate(client, f"App {n}") for n in range(8)))

    run(scenario())
    assert sorted(a["displayName"] for a in emulator.applications()) == [
        f"App {n}" for n in range(8)
    ]
    assert len({sp["appId"] for sp in emulator.service_principals()}) == 8
