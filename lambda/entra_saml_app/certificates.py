"""A SAML token signing certificate made here, for clouds without addTokenSigningCertificate.

`POST /servicePrincipals/{id}/addTokenSigningCertificate` is documented for the global service
only (its v1.0 page's national-cloud table: US Government L4 and L5, China: not available).
Elsewhere the documented way is to upload a certificate with a servicePrincipal update:
the private key as a PKCS#12 file (a "Sign" keyCredential of type X509CertAndPassword), the
certificate (a "Verify" AsymmetricX509Cert keyCredential) and the PFX password (a
passwordCredential whose keyId is the Sign key's). Source: "Configure a custom signing key",
MicrosoftDocs/entra-docs:docs/identity-platform/reference-claims-customization.md.

The private key and the password exist only in this process's memory: they travel once, in
the PATCH body, and are never logged nor returned in Data.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

RSA_KEY_BITS = 2048
# PBES2 with AES-256 and an HMAC-SHA256 MAC, as current Windows exports PFX files; that Entra
# reads this encryption is unverified (docs/FIDELITY.md).
_PFX_ROUNDS = 100_000


@dataclass(frozen=True)
class UploadedCertificate:
    """What the servicePrincipal update carries for one signing certificate."""

    display_name: str
    thumbprint: str  # upper-case hex SHA-1 of the DER certificate
    start: datetime
    end: datetime
    certificate_der: bytes
    pfx: bytes = field(repr=False)
    password: str = field(repr=False)
    sign_key_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    verify_key_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def custom_key_identifier(self) -> str:
        """The thumbprint itself (base64), what Graph defaults it to and what
        addTokenSigningCertificate sets: a read without `key` still names the certificate."""
        return base64.b64encode(bytes.fromhex(self.thumbprint)).decode("ascii")


def self_signed(subject: str, start: datetime, end: datetime) -> UploadedCertificate:
    """A self-signed RSA 2048 certificate for `subject` ("CN=..."), valid from start to end."""
    common_name = subject.removeprefix("CN=").removeprefix("cn=")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(32)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_PFX_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    pfx = pkcs12.serialize_key_and_certificates(None, key, certificate, None, encryption)
    der = certificate.public_bytes(serialization.Encoding.DER)
    return UploadedCertificate(
        display_name=subject,
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        start=start,
        end=end,
        certificate_der=der,
        pfx=pfx,
        password=password,
    )


def starting_now(now: datetime) -> datetime:
    """The certificate's notBefore: a minute back, for a service clock a little behind ours."""
    return now.replace(microsecond=0) - timedelta(minutes=1)
