"""Secretless sign-in: the real handler gets a web identity token from (emulated) AWS STS and
presents it to the (emulated) Entra token endpoint, which checks it against the deployer
app's federated identity credentials before issuing a Graph token."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from entra_saml_app import handler
from entra_saml_app.errors import ProvisioningError

from tests.emulators import EntraEmulator, StsEmulator
from tests.lambda_handler.conftest import REGION, Event, Provider, load_event

AUDIENCE = "api://AzureADTokenExchange"


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[StsEmulator]:
    """STS for the handler's account, reached the way the Lambda reaches it (its region's
    endpoint, here through AWS_ENDPOINT_URL_STS) with the function's role credentials."""
    with StsEmulator(region=REGION) as running:
        for name, value in running.lambda_environment().items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture(autouse=True)
def no_secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every test here runs with reading a credentials secret forbidden."""
    reads: list[str] = []

    def forbidden(secret_arn: str) -> Any:
        reads.append(secret_arn)
        raise AssertionError(f"a federated handler read the secret {secret_arn}")

    monkeypatch.setattr(handler, "read_credentials", forbidden)
    return reads


def federated(event: Event, emulator: EntraEmulator, **more: str) -> Event:
    """The event with the federated credential properties instead of the secret's ARN."""
    props = event["ResourceProperties"]
    del props["CredentialsSecretArn"]
    props.update(FederatedClientId=emulator.client_id, **more)
    return event


def trust(emulator: EntraEmulator, sts: StsEmulator, **changes: Any) -> None:
    """The admin's federated credential on the deployer app (README), with `changes`."""
    record = {"issuer": sts.issuer, "subject": sts.role_arn, "audiences": [AUDIENCE], **changes}
    emulator.add_federated_credential(**record)


def failure_of(provider: Provider, event: Event) -> str:
    with pytest.raises(ProvisioningError) as caught:
        provider.on_event(event)
    return str(caught.value)


# -- the happy path --------------------------------------------------------------------------


def test_create_with_federated_credentials_completes(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider, no_secret_reads: list[str]
) -> None:
    trust(emulator, sts)
    event = federated(provider.create_event(), emulator)

    answer = provider.deploy(event)

    app = emulator.applications()[0]
    assert answer["PhysicalResourceId"] == app["id"]
    assert answer["Data"]["MetadataUrl"] == emulator.metadata_url(app["appId"])
    assert no_secret_reads == []


def test_token_requests_present_the_sts_token_as_a_client_assertion(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)

    provider.deploy(federated(provider.create_event(), emulator))

    token_requests = [r for r in emulator.requests("authority") if r.path.endswith("/token")]
    assert token_requests
    for request in token_requests:
        assert request.status == 200
        assert request.form is not None
        assert request.form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        assert request.form["client_id"] == emulator.client_id
        assert "client_secret" not in request.form


def test_sts_is_asked_for_a_short_rs256_token_for_the_configured_audience(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    audience = "api://contoso-deployer"
    trust(emulator, sts, audiences=[audience])

    provider.deploy(federated(provider.create_event(), emulator, FederationAudience=audience))

    calls = sts.calls()
    assert calls
    for call in calls:
        assert call.signed
        assert call.region == REGION
        assert call.params == {
            "Action": "GetWebIdentityToken",
            "Version": "2011-06-15",
            "Audience.member.1": audience,
            "SigningAlgorithm": "RS256",
            "DurationSeconds": "300",
        }


def test_delete_with_federated_credentials_removes_the_application(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    event = federated(provider.create_event(), emulator)
    created = provider.deploy(event)

    provider.on_event(provider.delete_event(event, created["PhysicalResourceId"]))

    assert emulator.applications() == []


def test_relay_state_is_set_with_federated_credentials(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    created = provider.deploy(federated(provider.create_event(), emulator))
    sp_id = created["Data"]["ServicePrincipalId"]
    values = {**provider.values, "ServicePrincipalId": sp_id}
    event = federated(load_event("relay-state-create", **values), emulator)

    provider.deploy(event)

    (sp,) = [sp for sp in emulator.service_principals() if sp["id"] == sp_id]
    relay_state = event["ResourceProperties"]["RelayState"]
    assert sp["samlSingleSignOnSettings"]["relayState"] == relay_state


# -- Entra refuses the token: the reason says which federated credential to fix --------------


def test_unknown_issuer_names_the_issuer_to_trust(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts, issuer="https://0000.tokens.sts.global.api.aws")

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS700211" in reason
    assert f"issuer {sts.issuer}" in reason
    assert f"app registration {emulator.client_id}" in reason


def test_wrong_subject_names_the_handler_role_to_trust(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts, subject="arn:aws:iam::123456789012:role/someone-else")

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS700213" in reason
    assert f"subject {sts.role_arn}" in reason


def test_wrong_audience_names_the_audience_to_trust(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts, audiences=["api://something-else"])

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS700212" in reason
    assert f"audience {AUDIENCE}" in reason


def test_expired_token_is_refused_with_the_time_range(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    sts.skew_tokens(-3600)

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS700024" in reason
    assert "outside its validity window" in reason


def test_token_signed_by_a_key_the_issuer_does_not_publish_is_refused(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    sts.sign_with_unknown_key()

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS7000272" in reason
    assert (
        f"could not verify the AWS web identity token with the keys published by {sts.issuer}"
        in reason
    )


def test_token_with_a_forged_signature_is_refused(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    sts.sign_with_unknown_key(same_kid=True)

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AADSTS700027:" in reason
    assert "names exactly this issuer" in reason


# -- STS refuses -----------------------------------------------------------------------------


def test_outbound_federation_disabled_says_how_to_enable_it(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    sts.enabled = False

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "OutboundWebIdentityFederationDisabledException" in reason
    assert "aws iam enable-outbound-web-identity-federation" in reason
    assert not [r for r in emulator.requests("authority") if r.path.endswith("/token")]


def test_sts_access_denied_names_the_audience_and_the_permission(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    trust(emulator, sts)
    sts.allowed_audiences = frozenset({"api://only-this-one"})

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert "AccessDenied" in reason
    assert f"audience {AUDIENCE}" in reason
    assert "sts:GetWebIdentityToken" in reason


# -- secrecy ---------------------------------------------------------------------------------


def test_log_names_the_claims_entra_matches_without_the_token(
    emulator: EntraEmulator,
    sts: StsEmulator,
    provider: Provider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="entra_saml_app")
    trust(emulator, sts)

    provider.on_event(federated(provider.create_event(), emulator))

    records = [r.getMessage() for r in caplog.records if "web identity token" in r.getMessage()]
    assert records
    assert sts.issuer in records[0]
    assert sts.role_arn in records[0]
    assert AUDIENCE in records[0]
    assert not [token for token in sts.issued if token in records[0]]


def test_no_web_identity_token_reaches_the_log_or_the_reason(
    emulator: EntraEmulator,
    sts: StsEmulator,
    provider: Provider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    trust(emulator, sts, subject="arn:aws:iam::123456789012:role/someone-else")

    reason = failure_of(provider, federated(provider.create_event(), emulator))
    trust(emulator, sts)
    provider.deploy(federated(provider.create_event(), emulator))

    assert sts.issued
    for token in sts.issued:
        assert token not in caplog.text
        assert token not in reason
        assert token.split(".")[1] not in caplog.text


# -- a federated credential that has not propagated yet (AADSTS70021) ------------------------


def test_federated_credential_still_propagating_is_waited_out(
    emulator: EntraEmulator, sts: StsEmulator, provider: Provider
) -> None:
    # Entra: a new federated credential can fail with AADSTS70021 for a while; retry.
    emulator.federation_propagation(1.0)
    trust(emulator, sts)

    provider.deploy(federated(provider.create_event(), emulator))

    answers = [r.status for r in emulator.requests("authority") if r.path.endswith("/token")]
    assert answers[0] == 400
    assert answers[-1] == 200
    assert len(emulator.applications()) == 1


def test_federated_credential_that_never_propagates_fails_naming_the_delay(
    emulator: EntraEmulator,
    sts: StsEmulator,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENTRA_FEDERATION_PROPAGATION_SECONDS", "0.3")
    emulator.federation_propagation(3600)
    trust(emulator, sts)

    reason = failure_of(provider, federated(provider.create_event(), emulator))

    assert reason.startswith("Could not get a Microsoft Graph token")
    assert "takes several minutes to propagate" in reason
    assert sts.role_arn in reason
