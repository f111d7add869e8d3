"""The scheduled signing-certificate check: days to expiry, published per IdP."""

from __future__ import annotations

from base64 import b64encode
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from cert_expiry_check.handler import (
    METRIC_NAME,
    MetadataError,
    check,
    days_to_expiry,
    signing_certificates,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws

from tests import hostile_xml
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "app-federation-metadata.xml"
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def certificate(not_after: datetime) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Microsoft Azure Federated SSO")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=1095))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def metadata(*certificates: bytes) -> bytes:
    keys = "".join(
        '<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">'
        f"<X509Data><X509Certificate>{b64encode(der).decode()}</X509Certificate></X509Data>"
        "</KeyInfo></KeyDescriptor>"
        for der in certificates
    )
    return (
        '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}</IDPSSODescriptor></EntityDescriptor>"
    ).encode()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_days_to_expiry_of_a_valid_certificate() -> None:
    document = metadata(certificate(NOW + timedelta(days=45)))
    assert days_to_expiry(document, NOW) == 45.0


def test_real_entra_metadata_is_reported_as_expired() -> None:
    # The fixture's certificate expired on 2026-02-14.
    assert days_to_expiry(FIXTURE.read_bytes(), NOW) < -280


def test_the_old_certificate_counts_until_a_rotation_retires_it() -> None:
    # The new certificate may still be inactive: Entra keeps signing with the old one.
    old, new = certificate(NOW + timedelta(days=3)), certificate(NOW + timedelta(days=1000))
    assert days_to_expiry(metadata(new, old), NOW) == 3.0


def test_metadata_without_a_signing_certificate_is_refused() -> None:
    with pytest.raises(MetadataError, match="no IdP signing certificate"):
        signing_certificates(metadata())


def test_metadata_declaring_a_dtd_is_refused() -> None:
    with pytest.raises(MetadataError, match="DTD"):
        signing_certificates(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')


@pytest.mark.parametrize(("encoding", "declared"), hostile_xml.ENCODINGS)
@pytest.mark.parametrize(
    ("dtd", "body"),
    [
        (hostile_xml.BOMB_DTD, hostile_xml.BOMB_BODY),
        (hostile_xml.SMALL_DTD, hostile_xml.SMALL_BODY),
        (hostile_xml.EXTERNAL_DTD, "<EntityDescriptor/>"),
        (hostile_xml.PARAMETER_DTD, "<EntityDescriptor/>"),
    ],
    ids=["bomb", "internal-entity", "external-dtd", "parameter-entity"],
)
def test_dtd_is_refused_by_the_parser_in_every_encoding_it_detects(
    dtd: str, body: str, encoding: str, declared: str
) -> None:
    document = hostile_xml.document(dtd, body, encoding, declared)

    with pytest.raises(MetadataError, match=r"^the document declares a DTD; refused$"):
        signing_certificates(document)


def test_dtd_after_the_first_kilobytes_is_refused() -> None:
    document = hostile_xml.after_a_long_comment(hostile_xml.SMALL_DTD, hostile_xml.SMALL_BODY)

    with pytest.raises(MetadataError, match=r"^the document declares a DTD; refused$"):
        signing_certificates(document)


def test_utf32_metadata_is_not_read() -> None:
    with pytest.raises(MetadataError, match=r"^not XML: "):
        signing_certificates(hostile_xml.bomb("utf-32", "UTF-32"))


def test_check_publishes_one_metric_per_idp() -> None:
    documents = {
        "https://m/contoso": metadata(certificate(NOW + timedelta(days=20))),
        "https://m/fabrikam": metadata(certificate(NOW + timedelta(days=400))),
    }
    metrics = Recorder()
    results = check(
        {"Contoso": "https://m/contoso", "Fabrikam": "https://m/fabrikam"},
        metrics=metrics,
        namespace="Test",
        fetch=documents.__getitem__,
        now=NOW,
    )
    assert results == {"Contoso": 20.0, "Fabrikam": 400.0}
    published = {
        c["MetricData"][0]["Dimensions"][0]["Value"]: c["MetricData"][0]["Value"]
        for c in metrics.calls
    }
    assert published == {"Contoso": 20.0, "Fabrikam": 400.0}
    assert {c["MetricData"][0]["MetricName"] for c in metrics.calls} == {METRIC_NAME}


def test_unreadable_metadata_publishes_nothing_for_that_idp() -> None:
    def fetch(url: str) -> bytes:
        raise OSError("connection refused")

    metrics = Recorder()
    results = check({"Contoso": "https://m"}, metrics=metrics, namespace="T", fetch=fetch, now=NOW)
    assert metrics.calls == []
    assert results == {"Contoso": "error: connection refused"}


def test_check_publishes_to_cloudwatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    document = metadata(certificate(NOW + timedelta(days=10)))
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")
        check(
            {"EntraID": "https://m"},
            metrics=cloudwatch,
            namespace="CognitoEntraSso",
            fetch=lambda _url: document,
            now=NOW,
        )
        (listed,) = cloudwatch.list_metrics(Namespace="CognitoEntraSso")["Metrics"]
    assert listed["MetricName"] == METRIC_NAME
    assert listed["Dimensions"] == [{"Name": "IdentityProvider", "Value": "EntraID"}]
