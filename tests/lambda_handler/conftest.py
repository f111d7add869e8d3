"""Fixtures for the custom resource handler: the Entra emulator, the credentials secret in
moto, and `Provider`, which plays the CDK Provider framework against the real handler."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from entra_saml_app import handler
from entra_saml_app.handler import Runtime
from entra_saml_app.model import RELAY_STATE_RESOURCE_TYPE
from moto import mock_aws

from tests.emulators import EntraEmulator

EVENTS = Path(__file__).parent / "events"
REGION = "eu-west-1"
# Fast and bounded: the tests exercise the retry paths, not the production waits.
TUNING = {
    "ENTRA_RETRY_BASE_SECONDS": "0.02",
    "ENTRA_RETRY_MAX_SECONDS": "0.1",
    "ENTRA_DEADLINE_SECONDS": "8",
    "ENTRA_REPLICATION_SECONDS": "60",
    "ENTRA_HTTP_TIMEOUT_SECONDS": "5",
}

Event = dict[str, Any]
Response = dict[str, Any]


def load_event(name: str, **values: str) -> Event:
    """An event fixture from events/, with its ${placeholders} filled in."""
    text = (EVENTS / f"{name}.json").read_text()
    event: Event = json.loads(Template(text).safe_substitute(values))
    return event


def store_secret(emulator: EntraEmulator, name: str = "entra-deployer", **credential: str) -> str:
    """The deployer's credentials as the stack stores them (the client secret unless
    `credential` says otherwise); returns the secret ARN."""
    client = boto3.client("secretsmanager", region_name=REGION)
    secret = {
        "tenantId": emulator.tenant_id,
        "clientId": emulator.client_id,
        **(credential or {"clientSecret": emulator.client_secret}),
    }
    arn: str = client.create_secret(Name=name, SecretString=json.dumps(secret))["ARN"]
    return arn


def point_at(monkeypatch: pytest.MonkeyPatch, emulator: EntraEmulator) -> None:
    """The handler's environment, aimed at `emulator`, as the construct would set it."""
    monkeypatch.setenv("ENTRA_GRAPH_ENDPOINT", emulator.graph_base_url)
    monkeypatch.setenv("ENTRA_LOGIN_AUTHORITY", emulator.authority_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))


@dataclass
class Provider:
    """Sends events to the handler the way aws_cdk.custom_resources.Provider does, and
    remembers which applications the stack should own afterwards, per tenant."""

    values: dict[str, str]
    live: dict[str, set[str]] = field(default_factory=dict)
    polls: int = 0

    def create_event(self, name: str = "create", **props: Any) -> Event:
        event = load_event(name, **self.values)
        event["ResourceProperties"].update(props)
        return event

    def on_event(self, event: Event, runtime: Runtime | None = None) -> Response:
        if runtime is None:
            response = handler.on_event(copy.deepcopy(event), None)
        else:
            response = handler.handle_event(copy.deepcopy(event), None, runtime)
        self._track(event, response)
        return response

    def is_complete(self, event: Event, response: Response) -> Response:
        # The framework hands isComplete the event merged with onEvent's answer.
        self.polls += 1
        return handler.is_complete({**copy.deepcopy(event), **response}, None)

    def until_complete(self, event: Event, response: Response, limit: int = 10) -> Response:
        for _ in range(limit):
            answer = self.is_complete(event, response)
            if answer["IsComplete"]:
                return answer
        raise AssertionError(f"not complete after {limit} polls")

    def deploy(self, event: Event) -> Response:
        """onEvent, then isComplete until done; the final answer as CloudFormation gets it."""
        response = self.on_event(event)
        final = self.until_complete(event, response)
        return {**response, "Data": {**response.get("Data", {}), **final.get("Data", {})}}

    def update_event(self, deployed: Event, physical_id: str, **changes: Any) -> Event:
        event = load_event("update", PhysicalResourceId=physical_id)
        old = copy.deepcopy(deployed["ResourceProperties"])
        event["OldResourceProperties"] = old
        event["ResourceProperties"] = {**copy.deepcopy(old), **changes}
        return event

    def delete_event(self, deployed: Event, physical_id: str) -> Event:
        event = load_event("delete", PhysicalResourceId=physical_id)
        event["ResourceProperties"] = copy.deepcopy(deployed["ResourceProperties"])
        return event

    def _track(self, event: Event, response: Response) -> None:
        if event.get("ResourceType") == RELAY_STATE_RESOURCE_TYPE:
            return  # owns no application
        tenant = event["ResourceProperties"]["TenantId"]
        owned = self.live.setdefault(tenant, set())
        physical_id = response.get("PhysicalResourceId")
        if event["RequestType"] == "Delete":
            owned.discard(physical_id)
        elif physical_id:
            owned.add(physical_id)


def assert_no_orphans(emulator: EntraEmulator, provider: Provider, keep: set[str]) -> None:
    live = {app["id"] for app in emulator.applications()}
    expected = provider.live.get(emulator.tenant_id, set()) | keep
    assert live == expected, f"orphaned: {live - expected}, missing: {expected - live}"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TUNING.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def seeded() -> set[str]:
    """Ids of applications a test put in the tenant itself (they are not orphans)."""
    return set()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, tuned: None, aws: None) -> Iterator[EntraEmulator]:
    with EntraEmulator() as running:
        point_at(monkeypatch, running)
        yield running


@pytest.fixture
def provider(emulator: EntraEmulator, seeded: set[str]) -> Iterator[Provider]:
    values = {
        "TenantId": emulator.tenant_id,
        "SecretArn": store_secret(emulator),
        "UserId": emulator.add_user("Ada Lovelace"),
        "GroupId": emulator.add_group("Mobile testers"),
    }
    running = Provider(values)
    yield running
    assert_no_orphans(emulator, running, seeded)


@pytest.fixture
def deployed(provider: Provider) -> tuple[Event, Response]:
    """A finished Create of events/create.json: (the event, CloudFormation's answer)."""
    event = provider.create_event()
    return event, provider.deploy(event)


@pytest.fixture
def runtime_with() -> Callable[..., Runtime]:
    """The production runtime with some parts swapped."""

    def build(**parts: Any) -> Runtime:
        from dataclasses import replace  # noqa: PLC0415

        return replace(Runtime.from_env(), **parts)

    return build


def pytest_configure(config: pytest.Config) -> None:
    # msgraph and kiota warn about their own deprecated classes when they are imported.
    for message in ("This class is deprecated", "GetQueryParameters is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
