"""Where the SAML signing certificate comes from, and how its thumbprint is read.

In the global service Graph makes it (addTokenSigningCertificate). That action is documented
for the global service only, so in a national cloud the handler makes a self-signed certificate
and uploads it with the documented servicePrincipal update. A thumbprint is the SHA-1 of the
Verify key's certificate, whatever customKeyIdentifier an admin's upload carries."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from entra_saml_app.errors import ProvisioningError

from tests.emulators import EntraEmulator
from tests.lambda_handler.conftest import (
    Event,
    Provider,
    Response,
    assert_no_orphans,
    point_at,
    store_secret,
)
from tests.lambda_handler.test_lifecycle import (
    assert_fully_configured,
    only_application,
    service_principal_of,
)

# The US Government cloud's non-gallery template, from Graph's instantiate page:
# microsoftgraph/microsoft-graph-docs-contrib:api-reference/v1.0/api/applicationtemplate-instantiate.md  # noqa: E501
USGOV_TEMPLATE_ID = "4602d0b4-76bb-404b-bca9-2652e1a39c6d"


@pytest.fixture
def usgov(monkeypatch: pytest.MonkeyPatch, tuned: None, aws: None) -> Iterator[EntraEmulator]:
    """Graph as the US Government cloud serves it, and the handler told so by the construct."""
    with EntraEmulator(cloud="usgov") as running:
        point_at(monkeypatch, running)
        monkeypatch.setenv("ENTRA_NON_GALLERY_TEMPLATE_ID", USGOV_TEMPLATE_ID)
        monkeypatch.setenv("ENTRA_CLOUD", "usgov")
        yield running


@pytest.fixture
def usgov_provider(usgov: EntraEmulator) -> Iterator[Provider]:
    running = Provider(
        {
            "TenantId": usgov.tenant_id,
            "SecretArn": store_secret(usgov),
            "UserId": usgov.add_user("Ada Lovelace"),
            "GroupId": usgov.add_group("Mobile testers"),
        }
    )
    yield running
    assert_no_orphans(usgov, running, set())


def test_national_cloud_emulator_refuses_add_token_signing_certificate(
    usgov: EntraEmulator, usgov_provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler as it was: told nothing about the cloud, it asks Graph for the certificate.
    monkeypatch.delenv("ENTRA_CLOUD")

    with pytest.raises(ProvisioningError, match=r"addTokenSigningCertificate -> 400 BadRequest"):
        usgov_provider.on_event(usgov_provider.create_event())


def test_national_cloud_create_uploads_a_self_signed_certificate(
    usgov: EntraEmulator, usgov_provider: Provider
) -> None:
    event = usgov_provider.create_event()

    answer = usgov_provider.deploy(event)

    assert not [r for r in usgov.requests() if "addTokenSigningCertificate" in r.path]
    assert_fully_configured(usgov, event, usgov_provider)
    sp = service_principal_of(usgov, only_application(usgov))
    (certificate,) = usgov.signing_certificates(sp["id"])
    assert certificate.thumbprint == answer["Data"]["SigningCertificateThumbprint"]
    assert certificate.display_name == "CN=Microsoft Azure Federated SSO Certificate"


def uploads(emulator: EntraEmulator) -> list[Any]:
    return [
        r.json
        for r in emulator.requests()
        if r.method == "PATCH" and "keyCredentials" in (r.json or {})
    ]


def test_uploaded_certificate_pairs_sign_verify_and_password_as_documented(
    usgov: EntraEmulator, usgov_provider: Provider
) -> None:
    usgov_provider.on_event(usgov_provider.create_event())

    (body,) = uploads(usgov)
    sign, verify = body["keyCredentials"]
    (password,) = body["passwordCredentials"]
    assert (sign["type"], sign["usage"]) == ("X509CertAndPassword", "Sign")
    assert (verify["type"], verify["usage"]) == ("AsymmetricX509Cert", "Verify")
    assert password["keyId"] == sign["keyId"] != verify["keyId"]
    identifiers = {sign["customKeyIdentifier"], verify["customKeyIdentifier"]}
    assert identifiers == {password["customKeyIdentifier"]}


def test_private_key_and_password_stay_out_of_logs_and_data(
    usgov: EntraEmulator, usgov_provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    answer = usgov_provider.on_event(usgov_provider.create_event())

    (body,) = uploads(usgov)
    secret = body["passwordCredentials"][0]["secretText"]
    pfx = body["keyCredentials"][0]["key"]
    assert secret
    assert pfx
    for text in (caplog.text, json.dumps(answer)):
        assert secret not in text
        assert pfx[:40] not in text


def test_update_keeps_an_admin_uploaded_certificate_with_a_free_form_identifier(
    emulator: EntraEmulator, provider: Provider, deployed: tuple[Event, Response]
) -> None:
    # An upload's customKeyIdentifier is free-form: not base64 of a thumbprint, not even base64.
    event, answer = deployed
    sp = service_principal_of(emulator, only_application(emulator))
    imported = emulator.upload_signing_certificate(
        sp["id"], custom_key_identifier="imported by ops, 2026", activate=True
    )

    updated = provider.on_event(provider.update_event(event, answer["PhysicalResourceId"]))

    assert updated["Data"]["SigningCertificateThumbprint"] == imported
    active = [c.thumbprint for c in emulator.signing_certificates(sp["id"]) if c.active]
    assert active == [imported]
