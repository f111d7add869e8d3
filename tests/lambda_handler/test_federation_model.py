"""model.py: the federated credential properties, and the secret ARN shape kept working."""

from __future__ import annotations

from typing import Any

import pytest
from entra_saml_app.model import (
    DEFAULT_FEDERATION_AUDIENCE,
    Federation,
    PropertyError,
    RelayStateRequest,
    Request,
)

from tests.lambda_handler.conftest import load_event

TENANT = "7a4e3c1b-2d5f-4e6a-8b9c-0d1e2f3a4b5c"
CLIENT = "5B6C7D8E-9F0A-4B1C-8D2E-3F4A5B6C7D8E"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:entra-AbCdEf"


def event_with(**props: Any) -> dict[str, Any]:
    event = load_event(
        "create",
        TenantId=TENANT,
        SecretArn=SECRET_ARN,
        UserId="1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        GroupId="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    )
    event["ResourceProperties"].pop("CredentialsSecretArn")
    event["ResourceProperties"].update(props)
    return event


def test_federated_client_id_selects_federation_with_the_default_audience() -> None:
    props = Request.parse(event_with(FederatedClientId=CLIENT)).properties

    assert props.federation == Federation(CLIENT.lower(), DEFAULT_FEDERATION_AUDIENCE)
    assert props.credentials_secret_arn is None


def test_federation_audience_is_taken_as_given() -> None:
    event = event_with(FederatedClientId=CLIENT, FederationAudience="api://contoso-deployer")

    props = Request.parse(event).properties

    assert props.federation is not None
    assert props.federation.audience == "api://contoso-deployer"


def test_secret_arn_alone_keeps_the_secret_mode() -> None:
    props = Request.parse(event_with(CredentialsSecretArn=SECRET_ARN)).properties

    assert props.credentials_secret_arn == SECRET_ARN
    assert props.federation is None


def test_both_credential_properties_are_refused() -> None:
    event = event_with(CredentialsSecretArn=SECRET_ARN, FederatedClientId=CLIENT)

    with pytest.raises(PropertyError, match="either CredentialsSecretArn or FederatedClientId"):
        Request.parse(event)


def test_neither_credential_property_names_both_options() -> None:
    with pytest.raises(PropertyError, match="FederatedClientId, for federated credentials"):
        Request.parse(event_with())


def test_federated_client_id_must_be_a_guid() -> None:
    with pytest.raises(PropertyError, match="FederatedClientId='deployer'"):
        Request.parse(event_with(FederatedClientId="deployer"))


def test_relay_state_accepts_federated_credentials() -> None:
    event = load_event(
        "relay-state-create",
        TenantId=TENANT,
        ServicePrincipalId="9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        SecretArn=SECRET_ARN,
    )
    event["ResourceProperties"].pop("CredentialsSecretArn")
    event["ResourceProperties"]["FederatedClientId"] = CLIENT

    props = RelayStateRequest.parse(event).properties

    assert props.federation == Federation(CLIENT.lower(), DEFAULT_FEDERATION_AUDIENCE)
