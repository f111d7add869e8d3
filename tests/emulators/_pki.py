"""Keys and certificates the emulator makes: a test CA, TLS server certificates, SAML signing
certificates and client certificates, all with `cryptography`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key, both as PEM."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def thumbprint(self) -> str:
        return sha1_thumbprint(self.der)


def sha1_thumbprint(der: bytes) -> str:
    """Upper-case hex SHA-1 of the DER certificate, the way Graph prints thumbprints."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def der_base64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _serial() -> int:
    return uuid.uuid4().int >> 1


def make_ca(now: dt.datetime) -> Issued:
    # EC keys are generated in microseconds; RSA would add ~0.1 s per key at start-up.
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Entra emulator test CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_server_cert(ca: Issued, now: dt.datetime) -> Issued:
    """A TLS server certificate for 127.0.0.1 and localhost, issued by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_public = ca.cert.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_self_signed_rsa(
    subject: x509.Name,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    """A self-signed RSA-2048 certificate, like Entra's SAML signing certificates (a new key
    unless `key` is given)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def parse_subject(display_name: str) -> x509.Name:
    """The subject for an addTokenSigningCertificate displayName such as "CN=Contoso"."""
    return x509.Name.from_rfc4514_string(display_name)


def make_client_certificate(common_name: str = "deployer") -> Issued:
    """A self-signed certificate a test can register and use with CertificateCredential."""
    now = dt.datetime.now(dt.UTC)
    return make_self_signed_rsa(
        _name(common_name), now - dt.timedelta(minutes=5), now + dt.timedelta(days=1)
    )
