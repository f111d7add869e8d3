"""service.py's decisions against an in-memory Graph and a fake clock (no network, no sleeps)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from entra_saml_app.errors import GraphError, ProvisioningError, StepFailed
from entra_saml_app.model import AppProperties, Owner
from entra_saml_app.retry import Retrier
from entra_saml_app.service import (
    DEFAULT_ACCESS_ROLE_ID,
    KEY_READS_IN_A_ROW,
    SamlAppService,
    ServicePrincipalPatch,
)

from tests.lambda_handler.fake_graph import USER_ROLE, FakeClock, FakeGraph, FakeMetadata

OWNER = Owner("arn:aws:cloudformation:eu-west-1:123456789012:stack/S/4c1d", "EntraApp")
USER = "1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
URI = "urn:amazon:cognito:sp:eu-west-1_Pool"
PROPS = AppProperties.parse(
    {
        "TenantId": "7a4e3c1b-2d5f-4e6a-8b9c-0d1e2f3a4b5c",
        "DisplayName": "Mobile SSO",
        "IdentifierUri": URI,
        "ReplyUrl": "https://d.auth.eu-west-1.amazoncognito.com/saml2/idpresponse",
        "CredentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-x1",
        "Assignments": [{"PrincipalId": USER, "PrincipalType": "User"}],
    }
)
NOT_FOUND = GraphError(404, "Request_ResourceNotFound", "not there yet")
UNAVAILABLE = GraphError(503, "ServiceUnavailable", "later")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeGraph:
    return FakeGraph(clock)


@pytest.fixture
def metadata() -> FakeMetadata:
    return FakeMetadata()


@pytest.fixture
def service(fake: FakeGraph, clock: FakeClock, metadata: FakeMetadata) -> SamlAppService:
    retrier = Retrier(
        deadline=120.0, base_seconds=1, max_seconds=8, clock=clock.monotonic, sleep=clock.sleep
    )
    return SamlAppService(
        graph=fake,
        metadata=metadata,
        retrier=retrier,
        template_id="8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
        login_authority="https://login.microsoftonline.com",
        replication_seconds=60,
        now=clock.now,
        clock=clock.monotonic,
    )


def test_create_adopts_the_tagged_application_and_discards_other_owned_ones(
    service: SamlAppService, fake: FakeGraph
) -> None:
    tagged = fake.seed("Mobile SSO", tags=(OWNER.tag,), age_days=2)
    pending = fake.seed(OWNER.pending_name)

    made = asyncio.run(service.create(OWNER, PROPS))

    assert made.application_object_id == tagged
    assert set(fake.apps) == {tagged}
    assert pending in fake.deleted
    assert "instantiate" not in fake.writes


def test_create_never_touches_an_unmarked_application_with_the_same_name(
    service: SamlAppService, fake: FakeGraph
) -> None:
    someone_elses = fake.seed("Mobile SSO")

    made = asyncio.run(service.create(OWNER, PROPS))

    assert made.application_object_id != someone_elses
    assert fake.apps[someone_elses].tags == ()
    assert set(fake.apps) == {someone_elses, made.application_object_id}


def test_create_that_fails_deletes_what_it_made(service: SamlAppService, fake: FakeGraph) -> None:
    fake.fail("assign", GraphError(403, "Authorization_RequestDenied", "Insufficient privileges"))

    with pytest.raises(
        StepFailed, match=r"^assign a user or group: .*-> 403 Authorization_RequestDenied"
    ):
        asyncio.run(service.create(OWNER, PROPS))

    assert fake.apps == {}
    assert len(fake.deleted) == 1


def test_signing_key_added_by_an_interrupted_run_is_activated_not_doubled(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    object_id = fake.seed(OWNER.pending_name)
    sp_id = fake.sp_of(object_id).object_id
    end = clock.now() + timedelta(days=700)
    key = asyncio.run(fake.add_token_signing_certificate(sp_id, "CN=x", end))

    made = asyncio.run(service.create(OWNER, PROPS))

    assert made.signing_thumbprint == key.thumbprint
    assert fake.sp_of(object_id).preferred_thumbprint == key.thumbprint
    assert len(fake.sp_of(object_id).signing_keys) == 1


def test_update_keeps_an_active_certificate_that_expires_within_30_days(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    # Activating a fresh one here would fail sign-ins until Cognito's metadata cache (up to
    # 6 hours) caught up; `mobile-sso rotate-certificate` renews without that gap.
    first = asyncio.run(service.create(OWNER, PROPS))
    clock.seconds += (first.signing_expiry - clock.now() - timedelta(days=20)).total_seconds()
    fake.writes.clear()

    again = asyncio.run(
        service.update(OWNER, first.application_object_id, PROPS, PROPS, PROPS.tenant_id)
    )

    assert again.signing_thumbprint == first.signing_thumbprint
    assert fake.writes == []


def test_update_keeps_a_certificate_that_rotation_activated_and_never_reactivates_the_old(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    first = asyncio.run(service.create(OWNER, PROPS))
    sp_id = fake.sp_of(first.application_object_id).object_id
    rotated = asyncio.run(
        fake.add_token_signing_certificate(sp_id, "CN=x", clock.now() + timedelta(days=900))
    )
    patch: ServicePrincipalPatch = {"preferred_token_signing_key_thumbprint": rotated.thumbprint}
    asyncio.run(fake.update_service_principal(sp_id, patch))
    fake.writes.clear()

    again = asyncio.run(
        service.update(OWNER, first.application_object_id, PROPS, PROPS, PROPS.tenant_id)
    )

    assert again.signing_thumbprint == rotated.thumbprint
    assert fake.sp_of(first.application_object_id).preferred_thumbprint == rotated.thumbprint
    assert fake.writes == []


def test_update_leaves_a_certificate_waiting_in_a_rotation_inactive(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    first = asyncio.run(service.create(OWNER, PROPS))
    sp_id = fake.sp_of(first.application_object_id).object_id
    asyncio.run(
        fake.add_token_signing_certificate(sp_id, "CN=x", clock.now() + timedelta(days=1200))
    )
    clock.seconds += (first.signing_expiry - clock.now() - timedelta(days=5)).total_seconds()

    again = asyncio.run(
        service.update(OWNER, first.application_object_id, PROPS, PROPS, PROPS.tenant_id)
    )

    assert again.signing_thumbprint == first.signing_thumbprint
    assert fake.sp_of(first.application_object_id).preferred_thumbprint == first.signing_thumbprint


def test_update_activates_a_new_certificate_once_the_active_one_has_expired(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    first = asyncio.run(service.create(OWNER, PROPS))
    clock.seconds += (first.signing_expiry - clock.now() + timedelta(days=1)).total_seconds()
    service.retrier.deadline = clock.monotonic() + 120  # a new invocation's deadline

    renewed = asyncio.run(
        service.update(OWNER, first.application_object_id, PROPS, PROPS, PROPS.tenant_id)
    )

    assert renewed.signing_thumbprint != first.signing_thumbprint
    assert renewed.signing_expiry > clock.now()


def test_no_op_update_writes_nothing(service: SamlAppService, fake: FakeGraph) -> None:
    made = asyncio.run(service.create(OWNER, PROPS))
    fake.writes.clear()

    again = asyncio.run(
        service.update(OWNER, made.application_object_id, PROPS, PROPS, PROPS.tenant_id)
    )

    assert fake.writes == []
    assert again == made


def test_no_op_update_with_group_claims_writes_nothing(
    service: SamlAppService, fake: FakeGraph
) -> None:
    props = replace(PROPS, group_membership_claims="ApplicationGroup")
    made = asyncio.run(service.create(OWNER, props))
    fake.writes.clear()

    asyncio.run(service.update(OWNER, made.application_object_id, props, props, props.tenant_id))

    assert fake.writes == []


def test_group_claims_changed_outside_the_stack_are_set_back(
    service: SamlAppService, fake: FakeGraph
) -> None:
    props = replace(PROPS, group_membership_claims="SecurityGroup")
    made = asyncio.run(service.create(OWNER, props))
    app = fake.apps[made.application_object_id]
    fake.apps[app.object_id] = replace(app, group_membership_claims="All")

    asyncio.run(service.update(OWNER, app.object_id, props, props, props.tenant_id))

    assert fake.apps[app.object_id].group_membership_claims == "SecurityGroup"


def test_replication_404_is_retried_with_short_pauses_while_the_app_is_fresh(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    fake.fail("update_service_principal", NOT_FOUND, NOT_FOUND, NOT_FOUND)

    asyncio.run(service.create(OWNER, PROPS))

    # Pauses stay at the base until they would exceed a tenth of the time waited (retry.py);
    # then the new certificate's read-back pauses the base between its reads.
    assert clock.slept == [1, 1, 1] + [1] * (KEY_READS_IN_A_ROW - 1)


def test_404_on_an_old_application_is_not_retried(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    made = asyncio.run(service.create(OWNER, PROPS))
    clock.seconds += 3600
    clock.slept.clear()
    service.retrier.deadline = clock.monotonic() + 120
    fake.fail("find_service_principal", NOT_FOUND)
    fake.sps.clear()

    with pytest.raises(StepFailed, match=r"^read the service principal: .*-> 404 ") as failure:
        asyncio.run(service.update(OWNER, made.application_object_id, PROPS, PROPS, None))

    assert failure.value.error.status == 404
    assert clock.slept == []


def test_retries_stop_before_the_deadline_would_pass(
    service: SamlAppService, fake: FakeGraph, clock: FakeClock
) -> None:
    fake.fail("instantiate", *[UNAVAILABLE] * 100)

    with pytest.raises(
        StepFailed, match=r"^find or instantiate the SAML application: .*-> 503 "
    ) as failure:
        asyncio.run(service.create(OWNER, PROPS))

    assert failure.value.gave_up_after is not None
    assert clock.seconds <= 120
    assert fake.apps == {}


def test_update_of_a_vanished_application_creates_a_new_one(
    service: SamlAppService, fake: FakeGraph
) -> None:
    made = asyncio.run(service.create(OWNER, PROPS))
    asyncio.run(fake.delete_application(made.application_object_id))

    again = asyncio.run(service.update(OWNER, made.application_object_id, PROPS, PROPS, None))

    assert again.application_object_id != made.application_object_id
    assert set(fake.apps) == {again.application_object_id}


def test_identifier_uri_held_by_a_live_application_fails_naming_it(
    service: SamlAppService, fake: FakeGraph
) -> None:
    holder = fake.seed("Legacy SAML app")
    fake.apps[holder] = replace(fake.apps[holder], identifier_uris=(URI,))

    with pytest.raises(ProvisioningError, match="already used by application 'Legacy SAML app'"):
        asyncio.run(service.create(OWNER, PROPS))

    assert set(fake.apps) == {holder}


def test_assignments_use_the_template_user_role(service: SamlAppService, fake: FakeGraph) -> None:
    made = asyncio.run(service.create(OWNER, PROPS))

    [assignment] = fake.assignments[made.service_principal_id]
    assert assignment.app_role_id == USER_ROLE.role_id


def test_app_without_roles_gets_default_access(service: SamlAppService, fake: FakeGraph) -> None:
    object_id = fake.seed(OWNER.pending_name)
    sp = fake.sp_of(object_id)
    fake.sps[sp.object_id] = replace(sp, app_roles=())

    made = asyncio.run(service.create(OWNER, PROPS))

    [assignment] = fake.assignments[made.service_principal_id]
    assert assignment.app_role_id == DEFAULT_ACCESS_ROLE_ID


def test_readiness_waits_for_the_metadata_to_serve_the_active_certificate(
    service: SamlAppService, metadata: FakeMetadata
) -> None:
    made = asyncio.run(service.create(OWNER, PROPS))

    before = asyncio.run(service.readiness(OWNER, made.application_object_id, PROPS))
    metadata.served = frozenset({made.signing_thumbprint})
    after = asyncio.run(service.readiness(OWNER, made.application_object_id, PROPS))

    assert before is None
    assert after == made
