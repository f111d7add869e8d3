"""metadata.py: reading signing certificate thumbprints from federation metadata, safely."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from entra_saml_app.metadata import MetadataNotReady, metadata_url, signing_thumbprints

FIXTURE = Path(__file__).parents[1] / "fixtures" / "app-federation-metadata.xml"


@pytest.fixture(scope="module")
def entra_document() -> bytes:
    return FIXTURE.read_bytes()


def test_thumbprint_of_a_real_entra_document_is_its_certificate_sha1(
    entra_document: bytes,
) -> None:
    first = re.search(rb"<X509Certificate>([^<]+)</X509Certificate>", entra_document)
    assert first is not None
    certificate = x509.load_der_x509_certificate(base64.b64decode(first.group(1)))
    expected = certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303

    assert signing_thumbprints(entra_document) == {expected}


def test_document_declaring_a_dtd_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><EntityDescriptor/>'

    with pytest.raises(MetadataNotReady, match="DTD"):
        signing_thumbprints(bomb)


def test_html_error_page_is_not_metadata() -> None:
    with pytest.raises(MetadataNotReady):
        signing_thumbprints(b"<html><body>AADSTS700016</body></html>")


def test_document_without_idp_signing_certificate_is_not_ready() -> None:
    empty = b'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>'

    with pytest.raises(MetadataNotReady, match="no IDPSSODescriptor"):
        signing_thumbprints(empty)


def test_metadata_url_is_the_app_specific_federation_document() -> None:
    url = metadata_url("https://login.microsoftonline.com", "contoso.onmicrosoft.com", "a1")

    assert url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/federationmetadata/2007-06/"
        "federationmetadata.xml?appid=a1"
    )
