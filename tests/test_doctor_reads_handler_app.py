"""The doctor against the application the real custom-resource handler makes.

tests/doctor_deployment.py seeds the Entra application by hand "as the custom resource
leaves it"; here the handler itself (lambda/entra_saml_app, driven as the CDK Provider
framework drives it, as in tests/lambda_handler/) creates it through the Graph emulator, and
the doctor then reads that same tenant. A difference between what the handler writes and
what the doctor expects fails this test instead of reaching a real deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.doctor_deployment import (
    LOGOUT_URL,
    REGION,
    REPLY_URL,
    Deployment,
    deployed,
    doctor,
)
from tests.emulators import EntraEmulator
from tests.lambda_handler.conftest import TUNING, Provider

ENTRA_CATEGORIES = {"entra_app", "assignment", "metadata", "claims"}
READS_EVERYTHING_THE_DOCTOR_CHECKS = [
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "User.Read.All",
    "GroupMember.Read.All",
]
# msgraph and kiota warn about their own deprecated classes when the handler imports them.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def made_by_the_handler(
    entra: EntraEmulator, _http: httpx.Client, pool_id: str
) -> tuple[str, str, str]:
    """The handler's Create of events/create.json for this pool, to completion."""
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415

    secrets = boto3.client("secretsmanager", region_name=REGION)
    (secret,) = secrets.list_secrets()["SecretList"]
    provider = Provider(
        {
            "TenantId": entra.tenant_id,
            "SecretArn": secret["ARN"],
            "UserId": entra.add_user("Ada Lovelace"),
            "GroupId": entra.add_group("Mobile testers"),
        }
    )
    event = provider.create_event(
        IdentifierUri=f"urn:amazon:cognito:sp:{pool_id}",
        ReplyUrl=REPLY_URL,
        LogoutUrl=LOGOUT_URL,
    )
    answer = provider.deploy(event)
    app_id = answer["Data"]["AppId"]
    (sp,) = [sp for sp in entra.service_principals() if sp["appId"] == app_id]
    return app_id, answer["PhysicalResourceId"], sp["id"]


@pytest.fixture
def handler_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name, value in TUNING.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with deployed(tmp_path, monkeypatch, made_by_the_handler) as made:
        yield made


def test_the_doctor_calls_the_handlers_application_healthy(
    handler_deployment: Deployment,
) -> None:
    handler_deployment.entra.set_roles(READS_EVERYTHING_THE_DOCTOR_CHECKS)

    outcome = doctor(handler_deployment)

    entra_errors = [
        f
        for f in outcome.report["findings"]
        if f["category"] in ENTRA_CATEGORIES and f["severity"] == "error"
    ]
    assert entra_errors == []
    assert outcome.report["findings"] == []
    assert outcome.exit_code == 0
    # It read the handler's application, its assignments, users and groups: nothing skipped.
    assert "assigned: Ada Lovelace (User), Mobile testers (Group)" in outcome.stderr
    assert "not checked" not in outcome.stderr
