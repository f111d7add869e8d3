"""Ready-made clients for an `EntraEmulator`: the real azure-identity credentials and the real
msgraph `GraphServiceClient`, pointed at the emulator the way the handler's tests need."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from typing import Any, TypeVar
from xml.etree import ElementTree

import httpx
from azure.identity.aio import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]

from ._pki import Issued, make_client_certificate, sha1_thumbprint
from .entra import EntraEmulator

T = TypeVar("T")
GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]
_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def secret_credential(emulator: EntraEmulator) -> ClientSecretCredential:
    """The deployer's client-secret credential, trusting the emulator's test CA."""
    return ClientSecretCredential(
        emulator.tenant_id,
        emulator.client_id,
        emulator.client_secret,
        authority=emulator.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_bundle),
    )


def certificate_credential(
    emulator: EntraEmulator, certificate: Issued | None = None, *, register: bool = True
) -> CertificateCredential:
    """A certificate credential for the deployer; registers `certificate` (a new one if
    omitted) with the emulator first unless `register` is False."""
    issued = certificate or make_client_certificate()
    if register:
        emulator.register_certificate(issued.cert_pem)
    return CertificateCredential(
        emulator.tenant_id,
        emulator.client_id,
        certificate_data=issued.key_pem + issued.cert_pem,
        authority=emulator.authority_url,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_bundle),
    )


def graph_client(
    emulator: EntraEmulator,
    credential: ClientSecretCredential | CertificateCredential | None = None,
    *,
    timeout: float | None = None,
) -> GraphServiceClient:
    """The stock GraphServiceClient (default middleware: retry, redirect, ...) sending to the
    emulator. Scopes are explicit because kiota would derive them from the overridden host."""
    auth = AzureIdentityAuthenticationProvider(
        credential or secret_credential(emulator), scopes=GRAPH_SCOPES
    )
    if timeout is None:
        client = GraphServiceClient(request_adapter=GraphRequestAdapter(auth))
    else:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        )
        client = GraphServiceClient(request_adapter=GraphRequestAdapter(auth, http))
    # No trailing slash: kiota would send /v1.0//applications.
    client.request_adapter.base_url = emulator.graph_base_url + "/v1.0"
    return client


def fetch_metadata(emulator: EntraEmulator, app_id: str) -> httpx.Response:
    """GET the app federation metadata URL over TLS, trusting the test CA."""
    return httpx.get(emulator.metadata_url(app_id), verify=str(emulator.ca_bundle), timeout=10)


def metadata_signing_thumbprints(document: bytes | str) -> list[str]:
    """SHA-1 thumbprints of the IDPSSODescriptor signing certificates in a metadata document."""
    root = ElementTree.fromstring(document)  # noqa: S314 (our own emulator's output)
    thumbprints: list[str] = []
    for descriptor in root.iter(f"{_MD}IDPSSODescriptor"):
        for key in descriptor.iter(f"{_MD}KeyDescriptor"):
            if key.get("use", "signing") != "signing":
                continue
            for element in key.iter(f"{_DS}X509Certificate"):
                der = x509.load_der_x509_certificate(
                    base64.b64decode("".join((element.text or "").split()))
                ).public_bytes(serialization.Encoding.DER)
                thumbprints.append(sha1_thumbprint(der))
    return thumbprints


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion (the project does not use pytest-asyncio)."""
    return asyncio.run(coroutine)
