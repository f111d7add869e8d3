"""Whole lifecycles through the real handler, the real GraphServiceClient and the real
ClientSecretCredential, against the Entra emulator. Every test ends with the tenant holding
exactly the applications the stack owns (the `provider` fixture checks)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from entra_saml_app import graph
from entra_saml_app.credentials import Credentials
from entra_saml_app.errors import ProvisioningError
from entra_saml_app.handler import Runtime
from entra_saml_app.model import Owner
from entra_saml_app.service import KEY_READS_IN_A_ROW, GraphPort
from entra_saml_app.settings import Settings

from tests.emulators import EntraEmulator, RecordedRequest
from tests.emulators._pki import make_client_certificate
from tests.lambda_handler.conftest import (
    Event,
    Provider,
    Response,
    assert_no_orphans,
    point_at,
    store_secret,
)

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
OpenGraph = Callable[[Settings, Credentials], AbstractAsyncContextManager[GraphPort]]


def owner_of(event: Event) -> Owner:
    return Owner(event["StackId"], event["LogicalResourceId"])


def only_application(emulator: EntraEmulator) -> dict[str, Any]:
    applications = emulator.applications()
    assert len(applications) == 1, [a["displayName"] for a in applications]
    return applications[0]


def service_principal_of(emulator: EntraEmulator, app: dict[str, Any]) -> dict[str, Any]:
    return next(sp for sp in emulator.service_principals() if sp["appId"] == app["appId"])


def assigned_principals(emulator: EntraEmulator, sp: dict[str, Any]) -> set[str]:
    return {a["principalId"] for a in emulator.assignments(sp["id"])}


def writes(emulator: EntraEmulator) -> list[RecordedRequest]:
    return [r for r in emulator.requests() if r.method in WRITES]


def group_claims_writes(emulator: EntraEmulator) -> list[Any]:
    """The groupMembershipClaims values PATCHed onto applications, in order."""
    return [
        r.json["groupMembershipClaims"]
        for r in emulator.requests()
        if r.method == "PATCH" and "groupMembershipClaims" in (r.json or {})
    ]


def assert_fully_configured(emulator: EntraEmulator, event: Event, provider: Provider) -> None:
    props = event["ResourceProperties"]
    app = only_application(emulator)
    sp = service_principal_of(emulator, app)
    assert app["displayName"] == props["DisplayName"]
    assert owner_of(event).tag in app["tags"]
    assert app["identifierUris"] == [props["IdentifierUri"]]
    assert app["web"]["redirectUris"] == [props["ReplyUrl"]]
    assert sp["preferredSingleSignOnMode"] == "saml"
    certificates = emulator.signing_certificates(sp["id"])
    assert [c.active for c in certificates] == [True]
    wanted = {provider.values["UserId"], provider.values["GroupId"]}
    assert assigned_principals(emulator, sp) == wanted


# -- Create ----------------------------------------------------------------------------------


def test_create_configures_a_saml_application(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    event, _ = deployed
    app = only_application(emulator)
    sp = service_principal_of(emulator, app)
    props = event["ResourceProperties"]
    assert app["web"]["logoutUrl"] == props["LogoutUrl"]
    assert sp["displayName"] == props["DisplayName"]
    assert sp["appRoleAssignmentRequired"] is True
    assert sp["notes"] == props["Notes"]
    assert_fully_configured(emulator, event, provider)


def test_create_answers_the_metadata_url_and_the_active_certificate(
    emulator: EntraEmulator, deployed: tuple[Event, Response]
) -> None:
    _, response = deployed
    app = only_application(emulator)
    sp = service_principal_of(emulator, app)
    data = response["Data"]
    assert response["PhysicalResourceId"] == app["id"] == data["ApplicationObjectId"]
    assert data["AppId"] == app["appId"]
    assert data["ServicePrincipalId"] == sp["id"]
    assert data["MetadataUrl"] == emulator.metadata_url(app["appId"])
    assert data["SigningCertificateThumbprint"] == sp["preferredTokenSigningKeyThumbprint"]
    expiry = datetime.strptime(data["SigningCertificateExpiry"], "%Y-%m-%dT%H:%M:%SZ")
    lifetime = expiry.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(days=3 * 365 - 2) < lifetime <= timedelta(days=3 * 365 + 1)
    assert len(json.dumps(response)) < 1024


def test_create_rides_out_replication_lag(emulator: EntraEmulator, provider: Provider) -> None:
    emulator.replication_lag(requests=3)
    event = provider.create_event()

    provider.deploy(event)

    lagged = [r for r in emulator.requests() if r.status == 404]
    assert len(lagged) >= 3
    only_application(emulator)


def test_is_complete_waits_until_the_metadata_serves_the_new_certificate(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.metadata_lag(fetches=2)
    event = provider.create_event()
    response = provider.on_event(event)

    first = provider.is_complete(event, response)
    second = provider.is_complete(event, response)
    third = provider.is_complete(event, response)

    assert first == second == {"IsComplete": False}
    assert third["IsComplete"] is True
    assert (
        third["Data"]["SigningCertificateThumbprint"]
        == (response["Data"]["SigningCertificateThumbprint"])
    )


def test_fresh_create_reads_back_only_the_new_signing_key(
    emulator: EntraEmulator, provider: Provider
) -> None:
    # What instantiate answered is not read again; the new certificate is, until
    # KEY_READS_IN_A_ROW reads in a row return it (the azuread provider's wait).
    provider.on_event(provider.create_event())

    reads = [r for r in emulator.requests() if r.method == "GET"]
    lists = [r for r in reads if r.path.endswith("/applications")]
    assert [r.query["$filter"].split(" ")[0] for r in lists] == ["tags/any(t:t", "displayName"]
    by_id = [r.path.split("/v1.0")[-1].split("/")[1] for r in reads if r not in lists]
    assert by_id == ["servicePrincipals"] * KEY_READS_IN_A_ROW


def test_is_complete_while_the_metadata_lags_fetches_only_the_metadata(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.metadata_lag(fetches=1)
    event = provider.create_event()
    response = provider.on_event(event)
    emulator.clear_requests()

    answer = provider.is_complete(event, response)

    assert answer == {"IsComplete": False}
    calls = [(r.server, r.method, r.path) for r in emulator.requests("all")]
    assert calls == [
        (
            "authority",
            "GET",
            f"/{emulator.tenant_id}/federationmetadata/2007-06/federationmetadata.xml",
        )
    ]
    provider.until_complete(event, response)


def test_is_complete_that_finds_the_metadata_ready_reads_the_application_and_sweeps(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event()
    response = provider.on_event(event)
    emulator.clear_requests()

    answer = provider.is_complete(event, response)

    assert answer == {"IsComplete": True, "Data": response["Data"]}
    graph_calls = [
        (r.method, r.path.split("/v1.0")[-1], r.query.get("$filter", ""))
        for r in emulator.requests()
    ]
    app_id = response["PhysicalResourceId"]
    assert [(m, p) for m, p, _ in graph_calls] == [
        ("GET", f"/applications/{app_id}"),
        ("GET", "/applications"),
        ("GET", "/applications"),
    ]
    assert [f.split(" ")[0] for _, _, f in graph_calls[1:]] == ["tags/any(t:t", "displayName"]


@pytest.mark.parametrize("missing", ["AppId", "SigningCertificateThumbprint"])
def test_is_complete_accepts_data_from_an_earlier_version_without_a_field(
    emulator: EntraEmulator, provider: Provider, missing: str
) -> None:
    event = provider.create_event()
    response = provider.on_event(event)
    older = {**response, "Data": {k: v for k, v in response["Data"].items() if k != missing}}

    answer = provider.until_complete(event, older)

    assert answer["Data"] == response["Data"]


def test_create_accepts_the_oldest_property_shape(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event("create-minimal")

    provider.deploy(event)

    app = only_application(emulator)
    sp = service_principal_of(emulator, app)
    assert app["web"]["logoutUrl"] is None
    assert sp["appRoleAssignmentRequired"] is True
    assert emulator.assignments(sp["id"]) == []


def test_create_sets_the_group_membership_claims(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event("create-groups")

    provider.deploy(event)

    assert only_application(emulator)["groupMembershipClaims"] == "ApplicationGroup"
    assert_fully_configured(emulator, event, provider)


def test_create_without_group_claims_never_writes_the_property(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    assert only_application(emulator)["groupMembershipClaims"] is None
    assert group_claims_writes(emulator) == []


def test_create_with_a_certificate_credential(emulator: EntraEmulator, provider: Provider) -> None:
    issued = make_client_certificate()
    emulator.register_certificate(issued.cert_pem)
    pem = (issued.key_pem + issued.cert_pem).decode()
    arn = store_secret(emulator, "entra-deployer-certificate", certificatePem=pem)

    provider.deploy(provider.create_event(CredentialsSecretArn=arn))

    token_forms = [r.form or {} for r in emulator.requests("authority") if r.method == "POST"]
    assert token_forms
    assert all("client_assertion" in form for form in token_forms)
    only_application(emulator)


# -- Update ----------------------------------------------------------------------------------


def update(
    provider: Provider, deployed: tuple[Event, Response], **changes: Any
) -> tuple[Event, Response]:
    event, response = deployed
    updated = provider.update_event(event, response["PhysicalResourceId"], **changes)
    return updated, provider.deploy(updated)


def test_update_renames_the_application_in_place(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    _, answer = update(provider, deployed, DisplayName="Mobile SSO (renamed)")

    app = only_application(emulator)
    assert answer["PhysicalResourceId"] == deployed[1]["PhysicalResourceId"]
    assert app["displayName"] == "Mobile SSO (renamed)"
    assert service_principal_of(emulator, app)["displayName"] == "Mobile SSO (renamed)"


def test_update_changes_the_reply_and_logout_urls(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    reply = "https://sso.example.com/saml2/idpresponse"
    update(provider, deployed, ReplyUrl=reply, LogoutUrl="")

    web = only_application(emulator)["web"]
    assert web["redirectUris"] == [reply]
    assert web["logoutUrl"] is None


def test_update_changes_the_identifier_uri(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    update(provider, deployed, IdentifierUri="urn:amazon:cognito:sp:eu-west-1_NewPool01")

    assert only_application(emulator)["identifierUris"] == [
        "urn:amazon:cognito:sp:eu-west-1_NewPool01"
    ]


def test_update_turns_assignment_required_off(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    update(provider, deployed, AssignmentRequired="false")

    sp = service_principal_of(emulator, only_application(emulator))
    assert sp["appRoleAssignmentRequired"] is False


def test_update_clears_the_notes(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    event, response = deployed
    changed = provider.update_event(event, response["PhysicalResourceId"])
    del changed["ResourceProperties"]["Notes"]

    provider.deploy(changed)

    assert service_principal_of(emulator, only_application(emulator))["notes"] is None


def test_update_assigns_new_principals_and_removes_dropped_ones(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    newcomer = emulator.add_user("Grace Hopper")
    group = provider.values["GroupId"]
    assignments = [
        {"PrincipalId": group, "PrincipalType": "Group"},
        {"PrincipalId": newcomer, "PrincipalType": "User"},
    ]

    update(provider, deployed, Assignments=assignments)

    sp = service_principal_of(emulator, only_application(emulator))
    assert assigned_principals(emulator, sp) == {group, newcomer}


def test_update_turns_group_claims_on(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    _, answer = update(provider, deployed, GroupMembershipClaims="SecurityGroup")

    assert answer["PhysicalResourceId"] == deployed[1]["PhysicalResourceId"]
    assert only_application(emulator)["groupMembershipClaims"] == "SecurityGroup"


def test_update_without_the_property_turns_group_claims_off(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event("create-groups")
    response = provider.deploy(event)
    dropped = provider.update_event(event, response["PhysicalResourceId"])
    del dropped["ResourceProperties"]["GroupMembershipClaims"]
    emulator.clear_requests()

    provider.deploy(dropped)

    assert only_application(emulator)["groupMembershipClaims"] == "None"
    assert group_claims_writes(emulator) == ["None"]


def test_no_op_update_with_group_claims_makes_no_write_call(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event("create-groups")
    response = provider.deploy(event)
    emulator.clear_requests()

    answer = provider.deploy(provider.update_event(event, response["PhysicalResourceId"]))

    assert writes(emulator) == []
    assert answer["Data"] == response["Data"]


def test_no_op_update_makes_no_write_call(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    emulator.clear_requests()

    _, answer = update(provider, deployed)

    assert writes(emulator) == []
    assert answer["Data"] == deployed[1]["Data"]


def test_tenant_change_replaces_the_application(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EntraEmulator,
    provider: Provider,
    deployed: tuple[Event, Response],
) -> None:
    event, response = deployed
    with EntraEmulator() as other:
        point_at(monkeypatch, other)
        moved = provider.update_event(
            event,
            response["PhysicalResourceId"],
            TenantId=other.tenant_id,
            CredentialsSecretArn=store_secret(other, "entra-deployer-other"),
            Assignments=[],
        )
        answer = provider.deploy(moved)
        assert answer["PhysicalResourceId"] == only_application(other)["id"]
        assert answer["PhysicalResourceId"] != response["PhysicalResourceId"]
        assert_no_orphans(other, provider, set())

    # CloudFormation then deletes the old resource, with its old properties.
    point_at(monkeypatch, emulator)
    provider.on_event(provider.delete_event(event, response["PhysicalResourceId"]))
    assert emulator.applications() == []


# -- Delete ----------------------------------------------------------------------------------


def test_delete_removes_the_application(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    event, response = deployed

    provider.on_event(provider.delete_event(event, response["PhysicalResourceId"]))

    assert emulator.applications() == []
    assert [a["id"] for a in emulator.deleted_applications()] == [response["PhysicalResourceId"]]


def test_delete_of_an_application_already_gone_succeeds(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    event, response = deployed
    delete = provider.delete_event(event, response["PhysicalResourceId"])
    provider.on_event(delete)

    again = provider.on_event(delete)

    assert again == {"PhysicalResourceId": response["PhysicalResourceId"]}


def test_delete_with_retain_on_delete_leaves_the_application(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response], seeded: set[str]
) -> None:
    event, response = deployed
    event["ResourceProperties"]["RetainOnDelete"] = "true"
    emulator.clear_requests()

    provider.on_event(provider.delete_event(event, response["PhysicalResourceId"]))

    seeded.add(response["PhysicalResourceId"])
    assert emulator.requests("all") == []
    assert only_application(emulator)["id"] == response["PhysicalResourceId"]


# -- crashes and faults ----------------------------------------------------------------------


class Crash(BaseException):
    """The Lambda killed mid-run (a timeout): nothing after the crash point runs."""


class CrashAfter:
    """A Graph port that dies right after the `occurrence`-th successful `method` call."""

    def __init__(self, port: GraphPort, method: str, occurrence: int) -> None:
        self._port = port
        self._method = method
        self._left = occurrence

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._port, name)
        if name != self._method:
            return real

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await real(*args, **kwargs)
            self._left -= 1
            if self._left == 0:
                raise Crash(name)
            return result

        return call


def crashing(method: str, occurrence: int) -> OpenGraph:
    @asynccontextmanager
    async def open_graph(settings: Settings, credentials: Credentials) -> AsyncIterator[GraphPort]:
        async with graph.open_graph(settings, credentials) as port:
            yield cast(GraphPort, CrashAfter(port, method, occurrence))

    return open_graph


CREATE_STEPS = [
    ("instantiate", 1),
    ("update_service_principal", 1),  # SAML mode
    ("update_application", 1),  # display name, owner tag, identifier and reply URLs
    ("add_token_signing_certificate", 1),
    ("update_service_principal", 2),  # certificate activation
    ("assign", 1),
    ("assign", 2),
]


@pytest.mark.parametrize(("method", "occurrence"), CREATE_STEPS)
def test_create_retried_after_a_crash_adopts_the_half_made_application(
    emulator: EntraEmulator,
    provider: Provider,
    runtime_with: Callable[..., Runtime],
    method: str,
    occurrence: int,
) -> None:
    event = provider.create_event()
    with pytest.raises(Crash, match=rf"^{method}$"):
        provider.on_event(event, runtime_with(open_graph=crashing(method, occurrence)))

    provider.deploy(event)

    assert_fully_configured(emulator, event, provider)
    assert emulator.deleted_applications() == []


def test_create_with_group_claims_retried_after_a_crash_ends_with_them_set(
    emulator: EntraEmulator, provider: Provider, runtime_with: Callable[..., Runtime]
) -> None:
    event = provider.create_event("create-groups")
    # Right after the PATCH that sets groupMembershipClaims.
    with pytest.raises(Crash, match=r"^update_application$"):
        provider.on_event(event, runtime_with(open_graph=crashing("update_application", 2)))

    provider.deploy(event)

    assert only_application(emulator)["groupMembershipClaims"] == "ApplicationGroup"
    assert_fully_configured(emulator, event, provider)


def test_instantiate_committed_before_a_503_is_adopted_not_doubled(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.fail_next("POST", r"/instantiate$", 503, "ServiceUnavailable", after_commit=True)
    event = provider.create_event()

    provider.deploy(event)

    instantiations = [r for r in emulator.requests() if r.path.endswith("/instantiate")]
    assert [r.status for r in instantiations] == [503]
    assert_fully_configured(emulator, event, provider)


def test_instantiate_whose_answer_was_lost_is_adopted_not_doubled(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.drop_next("POST", r"/instantiate$", after_commit=True)
    event = provider.create_event()

    provider.deploy(event)

    assert_fully_configured(emulator, event, provider)


def test_signing_certificate_whose_answer_was_lost_is_not_added_twice(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.drop_next("POST", r"/addTokenSigningCertificate$", after_commit=True)
    event = provider.create_event()

    provider.deploy(event)

    assert_fully_configured(emulator, event, provider)


def test_assignment_whose_answer_was_lost_is_not_an_error(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.drop_next("POST", r"/appRoleAssignedTo$", after_commit=True)
    event = provider.create_event()

    provider.deploy(event)

    assert_fully_configured(emulator, event, provider)


def test_bad_request_on_a_just_created_object_is_retried(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.fail_next("PATCH", r"/servicePrincipals/", 400, "Request_BadRequest", times=2)
    event = provider.create_event()

    provider.deploy(event)

    patches = [
        r.status for r in emulator.requests() if r.path.startswith("/v1.0/servicePrincipals")
    ]
    assert patches.count(400) == 2
    assert_fully_configured(emulator, event, provider)


def test_twin_made_while_lists_lag_is_swept_by_is_complete(
    emulator: EntraEmulator, provider: Provider
) -> None:
    # The committed app stays out of the lists, so the retry instantiates a second one.
    emulator.replication_lag(requests=5, lists=True)
    emulator.fail_next("POST", r"/instantiate$", 503, "ServiceUnavailable", after_commit=True)
    event = provider.create_event()
    response = provider.on_event(event)
    assert len(emulator.applications()) == 2

    emulator.clear_faults()  # replication catches up
    provider.until_complete(event, response)

    assert only_application(emulator)["id"] == response["PhysicalResourceId"]


def test_throttling_is_retried_after_retry_after_seconds(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.fail_next("PATCH", r"/servicePrincipals/", 429, "TooManyRequests", retry_after=1)
    event = provider.create_event()
    started = time.monotonic()

    provider.deploy(event)

    assert time.monotonic() - started >= 1.0
    sp_patches = [
        r.status
        for r in emulator.requests()
        if r.method == "PATCH" and "/servicePrincipals/" in r.path
    ]
    assert sp_patches[:2] == [429, 204]


def test_missing_consent_fails_with_an_actionable_reason_and_leaves_nothing(
    emulator: EntraEmulator, provider: Provider
) -> None:
    emulator.set_roles(["Application.ReadWrite.All"])
    event = provider.create_event()

    with pytest.raises(ProvisioningError) as failure:
        provider.on_event(event)

    reason = str(failure.value)
    assert "POST /servicePrincipals/{id}/appRoleAssignedTo -> 403" in reason
    assert "Authorization_RequestDenied" in reason
    assert "admin consent" in reason
    assert "AppRoleAssignment.ReadWrite.All" in reason
    assert emulator.client_id in reason
    assert emulator.client_secret not in reason
    assert len(reason) < 600


def test_logs_carry_no_secret_and_no_token(
    emulator: EntraEmulator, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO for every logger: what Lambda keeps with AWS_LAMBDA_LOG_LEVEL=INFO. (botocore's
    # opt-in DEBUG output prints Secrets Manager answers verbatim; that is its choice.)
    caplog.set_level(logging.INFO)

    provider.deploy(provider.create_event())

    assert "instantiate" in caplog.text
    assert emulator.client_secret not in caplog.text
    assert "eyJ" not in caplog.text


def test_wrong_client_secret_fails_without_echoing_it(
    emulator: EntraEmulator, provider: Provider, runtime_with: Callable[..., Runtime]
) -> None:
    def wrong_secret(arn: str) -> Credentials:
        return Credentials(emulator.tenant_id, emulator.client_id, client_secret="not-it")

    with pytest.raises(ProvisioningError) as failure:
        provider.on_event(provider.create_event(), runtime_with(read_credentials=wrong_secret))

    reason = str(failure.value)
    assert "TokenRequestFailed" in reason
    assert "AADSTS7000215" in reason
    assert "not-it" not in reason


def test_our_soft_deleted_application_holding_the_identifier_uri_is_purged(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event()
    held = emulator.add_soft_deleted_application(
        event["ResourceProperties"]["IdentifierUri"], tags=[owner_of(event).tag]
    )

    provider.deploy(event)

    assert_fully_configured(emulator, event, provider)
    assert held not in {a["id"] for a in emulator.deleted_applications()}


def test_foreign_soft_deleted_application_holding_the_identifier_uri_fails_the_create(
    emulator: EntraEmulator, provider: Provider
) -> None:
    event = provider.create_event()
    held = emulator.add_soft_deleted_application(
        event["ResourceProperties"]["IdentifierUri"], display_name="Old Cognito app"
    )

    with pytest.raises(ProvisioningError) as failure:
        provider.on_event(event)

    reason = str(failure.value)
    assert f"deleted application 'Old Cognito app' (object id {held})" in reason
    assert "Delete it permanently" in reason
    assert held in {a["id"] for a in emulator.deleted_applications()}


# -- Rollback --------------------------------------------------------------------------------


def test_failed_update_is_rolled_back_to_the_previous_properties(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    event, response = deployed
    physical_id = response["PhysicalResourceId"]
    newcomer = emulator.add_user("Grace Hopper")
    failing = provider.update_event(
        event,
        physical_id,
        DisplayName="Mobile SSO (renamed)",
        ReplyUrl="https://sso.example.com/saml2/idpresponse",
        Assignments=[{"PrincipalId": newcomer, "PrincipalType": "User"}],
    )
    emulator.set_roles(["Application.ReadWrite.All"])  # assignments now fail: 403

    with pytest.raises(
        ProvisioningError,
        match=r"^Could not assign a user or group: "
        r"POST /servicePrincipals/\{id\}/appRoleAssignedTo -> 403 Authorization_RequestDenied\.",
    ):
        provider.on_event(failing)
    half_updated = only_application(emulator)
    assert half_updated["displayName"] == "Mobile SSO (renamed)"  # steps before the failure

    # CloudFormation rolls back with an Update from the new properties to the old ones.
    emulator.set_roles(["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"])
    rollback = provider.update_event(failing, physical_id)
    rollback["ResourceProperties"] = event["ResourceProperties"]
    answer = provider.deploy(rollback)

    assert answer["PhysicalResourceId"] == physical_id
    assert_fully_configured(emulator, event, provider)
