"""The STS emulator speaks what boto3's own GetWebIdentityToken sends and parses, and its
tokens verify against the issuer's published JWKS."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import jwt
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.emulators import StsEmulator

AUDIENCE = "api://AzureADTokenExchange"


@pytest.fixture
def sts() -> Iterator[StsEmulator]:
    with StsEmulator() as running:
        yield running


def client(sts: StsEmulator, **credentials: str) -> Any:
    keys = credentials or {
        "aws_access_key_id": "ASIAEMULATEDROLE0001",
        "aws_secret_access_key": "secret",
        "aws_session_token": "session",
    }
    return boto3.client("sts", region_name=sts.region, endpoint_url=sts.url, **keys)


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
        return json.load(answer)


def test_boto3_gets_a_token_that_verifies_with_the_issuer_jwks(sts: StsEmulator) -> None:
    answer = client(sts).get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")

    token = answer["WebIdentityToken"]
    discovery = fetch(f"{sts.issuer}/.well-known/openid-configuration")
    keys = jwt.PyJWKSet.from_dict(fetch(discovery["jwks_uri"]))
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token, keys[kid].key, algorithms=["RS256"], audience=AUDIENCE, issuer=sts.issuer
    )
    assert claims["sub"] == sts.role_arn
    assert claims["exp"] - claims["iat"] == 300
    assert {"nbf", "jti"} <= claims.keys()


def test_duration_seconds_sets_the_lifetime(sts: StsEmulator) -> None:
    answer = client(sts).get_web_identity_token(
        Audience=[AUDIENCE], SigningAlgorithm="RS256", DurationSeconds=900
    )

    claims = jwt.decode(answer["WebIdentityToken"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900


def test_disabled_outbound_federation_is_boto3s_modelled_error(sts: StsEmulator) -> None:
    sts.enabled = False
    sts_client = client(sts)

    with pytest.raises(
        sts_client.exceptions.OutboundWebIdentityFederationDisabledException,
        match="Outbound web identity federation is disabled for this account",
    ):
        sts_client.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")


def test_audience_outside_the_policy_is_access_denied(sts: StsEmulator) -> None:
    sts.allowed_audiences = frozenset({"api://other"})

    with pytest.raises(ClientError) as caught:
        client(sts).get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")

    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_request_is_refused(sts: StsEmulator) -> None:
    from botocore import UNSIGNED  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415

    unsigned = boto3.client(
        "sts",
        region_name=sts.region,
        endpoint_url=sts.url,
        config=Config(signature_version=UNSIGNED),
    )

    with pytest.raises(ClientError) as caught:
        unsigned.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")

    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    assert sts.calls()[-1].signed is False
