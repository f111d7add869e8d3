"""credentials.py: the deployer's credentials, read from Secrets Manager (moto) at run time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from entra_saml_app.credentials import read_credentials
from entra_saml_app.errors import ProvisioningError
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def stored(client: Any, value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    arn: str = client.create_secret(Name="entra", SecretString=text)["ARN"]
    return arn


def test_client_secret_credentials_are_read(secrets: Any) -> None:
    arn = stored(secrets, {"tenantId": "T", "clientId": "C", "clientSecret": "s3cr3t"})

    credentials = read_credentials(arn)

    assert (credentials.tenant_id, credentials.client_id) == ("t", "C")
    assert credentials.client_secret == "s3cr3t"
    assert "s3cr3t" not in repr(credentials)


def test_certificate_credentials_are_read(secrets: Any) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    arn = stored(secrets, {"tenantId": "T", "clientId": "C", "certificatePem": pem})

    credentials = read_credentials(arn)

    assert credentials.certificate_pem == pem
    assert credentials.client_secret is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"tenantId": "T", "clientSecret": "x"}, "clientId missing"),
        ({"tenantId": "T", "clientId": "C"}, "neither clientSecret nor certificatePem"),
        ("tenantId=T", "not a JSON object"),
    ],
)
def test_ill_shaped_secret_names_the_keys_expected(
    secrets: Any, value: object, problem: str
) -> None:
    arn = stored(secrets, value)

    with pytest.raises(ProvisioningError) as failure:
        read_credentials(arn)

    reason = str(failure.value)
    assert problem in reason
    for key in ('"tenantId"', '"clientId"', '"clientSecret"', '"certificatePem"'):
        assert key in reason
    assert "tenantId=T" not in reason


def test_missing_secret_says_what_to_check(secrets: Any) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:absent-AbCdEf"

    with pytest.raises(ProvisioningError) as failure:
        read_credentials(arn)

    assert "ResourceNotFoundException" in str(failure.value)
    assert "secretsmanager:GetSecretValue" in str(failure.value)
