"""The emulator's signing-key contracts: what a read returns of keyCredentials, the documented
upload of a signing certificate, and no addTokenSigningCertificate in a national cloud."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.emulators import EntraEmulator
from tests.emulators._pki import make_self_signed_rsa, sha1_thumbprint


def graph(emulator: EntraEmulator, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{emulator.graph_base_url}/v1.0{path}",
        headers={"Authorization": f"Bearer {emulator.issue_access_token()}"},
        json=body,
        timeout=10,
    )


def saml_app(emulator: EntraEmulator) -> str:
    """A service principal of a fresh non-gallery app; its object id."""
    made = graph(
        emulator,
        "POST",
        f"/applicationTemplates/{emulator.template_id}/instantiate",
        {"displayName": "Keys"},
    )
    assert made.status_code == 201
    return str(made.json()["servicePrincipal"]["id"])


def upload_body(password: str, opened_with: str) -> tuple[dict[str, Any], str]:
    """The documented custom signing key PATCH body (a PFX sealed with `opened_with`, the
    password credential saying `password`), and the certificate's thumbprint."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issued = make_self_signed_rsa(
        x509.Name.from_rfc4514_string("CN=Uploaded"), now, now + dt.timedelta(days=365)
    )
    pfx = pkcs12.serialize_key_and_certificates(
        None,
        issued.key,
        issued.cert,
        None,
        serialization.BestAvailableEncryption(opened_with.encode()),
    )
    identifier = base64.b64encode(b"free-form identifier").decode()
    sign_id, verify_id = str(uuid.uuid4()), str(uuid.uuid4())
    common = {"customKeyIdentifier": identifier, "displayName": "CN=Uploaded"}
    body = {
        "keyCredentials": [
            {**common, "keyId": sign_id, "type": "X509CertAndPassword", "usage": "Sign"}
            | {"key": base64.b64encode(pfx).decode()},
            {**common, "keyId": verify_id, "type": "AsymmetricX509Cert", "usage": "Verify"}
            | {"key": base64.b64encode(issued.der).decode()},
        ],
        "passwordCredentials": [
            {"customKeyIdentifier": identifier, "keyId": sign_id, "secretText": password}
        ],
    }
    return body, sha1_thumbprint(issued.der)


def test_uploaded_certificate_is_listed_and_can_be_activated(emulator: EntraEmulator) -> None:
    sp_id = saml_app(emulator)
    body, thumbprint = upload_body("pfx-password", opened_with="pfx-password")

    uploaded = graph(emulator, "PATCH", f"/servicePrincipals/{sp_id}", body)
    activated = graph(
        emulator,
        "PATCH",
        f"/servicePrincipals/{sp_id}",
        {"preferredTokenSigningKeyThumbprint": thumbprint},
    )

    assert (uploaded.status_code, activated.status_code) == (204, 204)
    assert [c.thumbprint for c in emulator.signing_certificates(sp_id) if c.active] == [thumbprint]


def test_upload_whose_password_does_not_open_the_pfx_is_an_invalid_certificate(
    emulator: EntraEmulator,
) -> None:
    sp_id = saml_app(emulator)
    body, _ = upload_body("not-the-password", opened_with="pfx-password")

    answer = graph(emulator, "PATCH", f"/servicePrincipals/{sp_id}", body)

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Invalid certificate: Key value is invalid certificate"
    )


def test_selecting_get_returns_the_verify_keys_certificate_and_a_list_does_not(
    emulator: EntraEmulator,
) -> None:
    sp_id = saml_app(emulator)
    body, thumbprint = upload_body("pfx-password", opened_with="pfx-password")
    graph(emulator, "PATCH", f"/servicePrincipals/{sp_id}", body)

    one = graph(emulator, "GET", f"/servicePrincipals/{sp_id}?$select=keyCredentials").json()
    listed = graph(emulator, "GET", f"/servicePrincipals?$filter=id eq '{sp_id}'").json()

    keys = {k["usage"]: k["key"] for k in one["keyCredentials"]}
    assert sha1_thumbprint(base64.b64decode(keys["Verify"])) == thumbprint
    assert keys["Sign"] is None
    assert [k["key"] for k in listed["value"][0]["keyCredentials"]] == [None, None]


@pytest.fixture
def usgov() -> Iterator[EntraEmulator]:
    with EntraEmulator(cloud="usgov") as running:
        yield running


def test_national_cloud_has_no_add_token_signing_certificate(usgov: EntraEmulator) -> None:
    sp_id = saml_app(usgov)

    answer = graph(
        usgov,
        "POST",
        f"/servicePrincipals/{sp_id}/addTokenSigningCertificate",
        {"displayName": "CN=Test"},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Resource not found for the segment 'addTokenSigningCertificate'."
    )
