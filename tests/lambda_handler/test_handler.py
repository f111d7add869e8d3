"""handler.py: the Provider framework protocol, and the reasons CloudFormation shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import pytest
from entra_saml_app.credentials import Credentials
from entra_saml_app.errors import ProvisioningError
from entra_saml_app.handler import Runtime, handle_event, handle_is_complete, on_event
from entra_saml_app.service import GraphPort, MetadataSource
from entra_saml_app.settings import Settings

from tests.lambda_handler.conftest import load_event

TENANT = "7a4e3c1b-2d5f-4e6a-8b9c-0d1e2f3a4b5c"
APP = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-AbCdEf"
CREATE_FAILED = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"


VALUES = {
    "TenantId": TENANT,
    "SecretArn": ARN,
    "UserId": "1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
    "GroupId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "PhysicalResourceId": APP,
}


def event(name: str, **props: Any) -> dict[str, Any]:
    """A fixture event; update and delete events carry create.json's properties."""
    loaded = load_event(name, **VALUES)
    if name != "create":
        loaded["ResourceProperties"] = load_event("create", **VALUES)["ResourceProperties"]
    loaded["ResourceProperties"].update(props)
    return loaded


def untouchable(reason: str) -> Runtime:
    """A runtime that fails the test if the handler reads a secret or opens Graph."""

    def read(arn: str) -> NoReturn:
        raise AssertionError(f"read secret {arn}: {reason}")

    def graph(settings: Settings, credentials: Credentials) -> NoReturn:
        raise AssertionError(f"opened Graph: {reason}")

    def metadata(settings: Settings) -> NoReturn:
        raise AssertionError(f"fetched metadata: {reason}")

    return Runtime(Settings(), read, graph, metadata)


def with_secret(credentials: Credentials, failure: Exception | None = None) -> Runtime:
    @asynccontextmanager
    async def graph(settings: Settings, creds: Credentials) -> AsyncIterator[GraphPort]:
        if failure is not None:
            raise failure
        raise AssertionError("Graph should not be reached")
        yield  # pragma: no cover

    def metadata(settings: Settings) -> MetadataSource:
        raise AssertionError("metadata should not be fetched")

    def read(arn: str) -> Credentials:
        assert arn == ARN
        return credentials

    return Runtime(Settings(), read, graph, metadata)


def test_delete_with_retain_on_delete_calls_nothing() -> None:
    retained = event("delete", RetainOnDelete="true")

    answer = handle_event(retained, None, untouchable("RetainOnDelete"))

    assert answer == {"PhysicalResourceId": APP}


def test_delete_after_a_failed_create_calls_nothing() -> None:
    rollback = event("delete")
    rollback["PhysicalResourceId"] = CREATE_FAILED

    answer = handle_event(rollback, None, untouchable("nothing was created"))

    assert answer == {"PhysicalResourceId": CREATE_FAILED}


def test_is_complete_for_a_delete_is_immediate() -> None:
    assert handle_is_complete(event("delete"), None, untouchable("delete")) == {"IsComplete": True}


def test_invalid_property_fails_before_any_call() -> None:
    bad = event("create", ReplyUrl="http://insecure.example.com/saml2/idpresponse")

    with pytest.raises(ProvisioningError, match=r"Property ReplyUrl=.*https://"):
        handle_event(bad, None, untouchable("invalid property"))


def test_unknown_group_membership_claims_fail_before_any_call_naming_the_allowed_values() -> None:
    bad = event("create", GroupMembershipClaims="Groups")

    with pytest.raises(ProvisioningError) as failure:
        handle_event(bad, None, untouchable("invalid GroupMembershipClaims"))

    assert str(failure.value) == (
        "Property GroupMembershipClaims='Groups' is invalid: expected one of None, "
        "SecurityGroup, All, ApplicationGroup, DirectoryRole."
    )


def test_secret_of_another_tenant_is_refused() -> None:
    other = Credentials("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "client", client_secret="x")

    with pytest.raises(ProvisioningError) as failure:
        handle_event(event("create"), None, with_secret(other))

    assert f"is for tenant {other.tenant_id} but TenantId is {TENANT}" in str(failure.value)


def test_unexpected_failure_is_reported_without_the_secret() -> None:
    credentials = Credentials(TENANT, "client", client_secret="hunter2-secret")
    leak = RuntimeError("boom while sending hunter2-secret")

    with pytest.raises(ProvisioningError) as failure:
        handle_event(event("create"), None, with_secret(credentials, leak))

    assert "RuntimeError" in str(failure.value)
    assert "hunter2-secret" not in str(failure.value)


def test_a_non_https_graph_endpoint_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_GRAPH_ENDPOINT", "http://graph.example.com")

    with pytest.raises(ProvisioningError, match="ENTRA_GRAPH_ENDPOINT"):
        on_event(event("create"), None)


def test_an_unknown_cloud_is_refused_naming_the_allowed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENTRA_CLOUD", "germany")

    with pytest.raises(ProvisioningError, match=r"ENTRA_CLOUD='germany' must be one of global, "):
        on_event(event("create"), None)
