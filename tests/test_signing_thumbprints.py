"""rotate-certificate's and the doctor's view of an enterprise app's signing certificates:
thumbprints come from the certificate itself, and in national clouds (where Graph has no
addTokenSigningCertificate) a new certificate is made here and uploaded.

Graph is an httpx.MockTransport answering one service principal, so a test can hold
keyCredentials Entra's own certificates never have (an uploaded one's free-form
customKeyIdentifier) and see the exact PATCH body."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from mobile_sso.entra_graph import Endpoints, HttpGraphWriter
from tests.emulators._pki import der_base64, make_self_signed_rsa, parse_subject

SP = "22222222-2222-2222-2222-222222222222"
APP = "33333333-3333-3333-3333-333333333333"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=365)


class Token:
    def get_token(self, *_scopes: str, **_kwargs: Any) -> AccessToken:
        return AccessToken("t", 4102444800)


class Graph:
    """One service principal's credentials; records the PATCH bodies it is sent."""

    def __init__(self, keys: list[dict[str, Any]], passwords: list[dict[str, Any]]) -> None:
        self.keys, self.passwords = keys, passwords
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "PATCH":
            return httpx.Response(204)
        body = {
            "id": SP,
            "displayName": "app",
            "preferredTokenSigningKeyThumbprint": None,
            "keyCredentials": self.keys,
            "passwordCredentials": self.passwords,
        }
        return httpx.Response(200, json=body)

    def writer(self, cloud: str = "global") -> Iterator[HttpGraphWriter]:
        endpoints = Endpoints.for_cloud(cloud, env={})
        with httpx.Client(transport=httpx.MockTransport(self)) as http:
            yield HttpGraphWriter(http, endpoints, Token(), "tenant")


def uploaded(identifier: str, *, with_key: bool = True) -> tuple[list[dict[str, Any]], str]:
    """The Sign and Verify keys of an uploaded certificate marked with `identifier`."""
    issued = make_self_signed_rsa(parse_subject("CN=uploaded"), NOW, LATER)
    dates = {"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-12-01T00:00:00Z"}
    keys = [
        {
            **dates,
            "customKeyIdentifier": identifier,
            "keyId": "k1",
            "usage": "Sign",
            "type": "X509CertAndPassword",
            "key": None,
        },
        {
            **dates,
            "customKeyIdentifier": identifier,
            "keyId": "k2",
            "usage": "Verify",
            "type": "AsymmetricX509Cert",
            "key": der_base64(issued.cert) if with_key else None,
        },
    ]
    return keys, issued.thumbprint.upper()


def test_an_uploaded_certificates_thumbprint_comes_from_the_certificate() -> None:
    # Microsoft's custom signing key example: customKeyIdentifier = SHA-256 of the thumbprint.
    keys, thumbprint = uploaded("")
    identifier = base64.b64encode(hashlib.sha256(thumbprint.encode()).digest()).decode()
    for key in keys:
        key["customKeyIdentifier"] = identifier

    for graph in Graph(keys, []).writer():
        state = graph.signing_certificates(APP)

    assert state is not None
    assert [c.thumbprint for c in state.certificates] == [thumbprint]


def test_a_20_byte_identifier_loses_to_the_certificates_own_thumbprint() -> None:
    keys, thumbprint = uploaded(base64.b64encode(b"\x01" * 20).decode())

    for graph in Graph(keys, []).writer():
        state = graph.signing_certificates(APP)

    assert state is not None
    assert [c.thumbprint for c in state.certificates] == [thumbprint]


@pytest.mark.parametrize("with_key", [True, False], ids=["certificate-shown", "no-certificate"])
def test_a_customkeyidentifier_that_is_not_base64_does_not_crash(with_key: bool) -> None:
    keys, thumbprint = uploaded("my cert (2026)!", with_key=with_key)

    for graph in Graph(keys, []).writer():
        state = graph.signing_certificates(APP)

    assert state is not None
    assert [c.thumbprint for c in state.certificates] == ([thumbprint] if with_key else [])


def test_a_verify_key_that_is_not_a_certificate_does_not_crash() -> None:
    keys, _thumbprint = uploaded("ident")
    keys[1]["key"] = "not base64 at all%%"

    for graph in Graph(keys, []).writer():
        state = graph.signing_certificates(APP)

    assert state is not None
    assert state.certificates == ()


def patch_body(graph: Graph) -> dict[str, Any]:
    (patch,) = [r for r in graph.requests if r.method == "PATCH"]
    body: dict[str, Any] = json.loads(patch.content)
    return body


@pytest.mark.parametrize("cloud", ["usgov", "usgov-dod", "china"])
def test_in_a_national_cloud_the_certificate_is_made_here_and_uploaded(cloud: str) -> None:
    old_keys, _old = uploaded("old")
    old_password = {"keyId": "k1", "customKeyIdentifier": "old", "hint": "abc"}
    graph = Graph(old_keys, [old_password])

    for writer in graph.writer(cloud):
        thumbprint = writer.add_signing_certificate(SP, "CN=Microsoft Azure SSO", LATER)

    assert not any("addTokenSigningCertificate" in str(r.url) for r in graph.requests)
    body = patch_body(graph)
    kept, (sign, verify) = body["keyCredentials"][:2], body["keyCredentials"][2:]
    assert kept == old_keys
    assert (sign["usage"], sign["type"]) == ("Sign", "X509CertAndPassword")
    assert (verify["usage"], verify["type"]) == ("Verify", "AsymmetricX509Cert")
    old, password = body["passwordCredentials"]
    assert old == old_password
    assert password["keyId"] == sign["keyId"] != verify["keyId"]
    key, certificate, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(sign["key"]), password["secretText"].encode()
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert certificate is not None
    assert der_base64(certificate) == verify["key"]
    assert hashlib.sha1(base64.b64decode(verify["key"])).hexdigest().upper() == thumbprint  # noqa: S324
    assert certificate.not_valid_after_utc == LATER


def test_in_the_global_cloud_entra_makes_the_certificate() -> None:
    graph = Graph([], [])

    def answer(request: httpx.Request) -> httpx.Response:
        graph.requests.append(request)
        return httpx.Response(200, json={"thumbprint": "ab" * 20})

    endpoints = Endpoints.for_cloud("global", env={})
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        writer = HttpGraphWriter(http, endpoints, Token(), "tenant")
        thumbprint = writer.add_signing_certificate(SP, "CN=x", LATER)

    assert thumbprint == "AB" * 20
    assert [r.url.path for r in graph.requests] == [
        f"/v1.0/servicePrincipals/{SP}/addTokenSigningCertificate"
    ]
