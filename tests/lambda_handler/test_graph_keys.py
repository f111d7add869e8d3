"""graph.py reads signing keys from keyCredentials: thumbprints from the certificate itself."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from entra_saml_app.graph import _service_principal

from tests.emulators._pki import make_self_signed_rsa

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
END = "2029-12-05T00:00:00Z"


def certificate_der() -> bytes:
    issued = make_self_signed_rsa(
        x509.Name.from_rfc4514_string("CN=Test"), NOW, NOW + dt.timedelta(days=30)
    )
    return issued.cert.public_bytes(serialization.Encoding.DER)


def pair(identifier: str, der: bytes | None) -> list[dict[str, Any]]:
    """A signing certificate's Sign and Verify keyCredentials as Graph lists them."""
    common = {"customKeyIdentifier": identifier, "endDateTime": END}
    verify_key = base64.b64encode(der).decode() if der else None
    return [
        {**common, "keyId": "1", "usage": "Verify", "key": verify_key},
        {**common, "keyId": "2", "usage": "Sign", "key": None},
    ]


def thumbprints(credentials: list[dict[str, Any]]) -> list[str]:
    sp = _service_principal({"id": "sp", "keyCredentials": credentials})
    return [key.thumbprint for key in sp.signing_keys]


def test_thumbprint_is_the_sha1_of_the_verify_keys_certificate() -> None:
    der = certificate_der()

    found = thumbprints(pair("free-form label", der))

    assert found == [hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()]


def test_identifier_of_twenty_bytes_stands_in_when_no_certificate_is_returned() -> None:
    raw = bytes(range(20))

    found = thumbprints(pair(base64.b64encode(raw).decode(), None))

    assert found == [raw.hex().upper()]


def test_free_form_identifier_without_a_certificate_is_left_out() -> None:
    not_base64 = "imported by ops, 2026"
    not_a_thumbprint = base64.b64encode(b"a label of another length").decode()

    assert thumbprints(pair(not_base64, None) + pair(not_a_thumbprint, None)) == []
