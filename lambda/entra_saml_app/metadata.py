"""The app's federation metadata document: fetched over HTTPS, read defensively.

Cognito reads the same URL when the SAML identity provider is created, so the resource is
complete only once this document names the signing certificate the handler activated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from xml.etree import ElementTree

import httpx

MAX_DOCUMENT_BYTES = 1_000_000
_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_CERTIFICATES = f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"


class MetadataNotReady(Exception):
    """The document is not (yet) what Cognito needs; the message says why."""


def metadata_url(login_authority: str, tenant_id: str, app_id: str) -> str:
    return (
        f"{login_authority}/{tenant_id}/federationmetadata/2007-06/federationmetadata.xml"
        f"?appid={app_id}"
    )


class HttpsMetadataSource:
    """Fetches a metadata URL with the configured trust roots."""

    def __init__(self, verify: ssl.SSLContext | bool, timeout: float) -> None:
        self._verify = verify
        self._timeout = timeout

    async def signing_thumbprints(self, url: str) -> frozenset[str]:
        try:
            async with httpx.AsyncClient(verify=self._verify, timeout=self._timeout) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise MetadataNotReady(f"fetch failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise MetadataNotReady(f"HTTP {response.status_code}")
        return signing_thumbprints(response.content)


def signing_thumbprints(document: bytes) -> frozenset[str]:
    """SHA-1 thumbprints (upper-case hex, as Graph spells them) of the IdP signing certificates."""
    root = _parse(document)
    if root.tag != f"{_MD}EntityDescriptor":
        raise MetadataNotReady(f"root element is {root.tag}, not EntityDescriptor")
    thumbprints = {
        _thumbprint(element.text or "")
        for descriptor in root.iter(f"{_MD}IDPSSODescriptor")
        for key in descriptor.iter(f"{_MD}KeyDescriptor")
        if key.get("use", "signing") == "signing"
        for element in key.iterfind(_CERTIFICATES)
    }
    if not thumbprints:
        raise MetadataNotReady("no IDPSSODescriptor signing certificate")
    return frozenset(thumbprints)


def _parse(document: bytes) -> ElementTree.Element:
    if len(document) > MAX_DOCUMENT_BYTES:
        raise MetadataNotReady(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    # Entity declarations are the XML attack surface (expansion bombs, external entities);
    # metadata never needs a DTD, so any document declaring one is refused before parsing.
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise MetadataNotReady("document declares a DTD")
    try:
        return ElementTree.fromstring(document)  # noqa: S314 (no DTD, checked above)
    except ElementTree.ParseError as exc:
        raise MetadataNotReady(f"not XML: {exc}") from exc


def _thumbprint(base64_der: str) -> str:
    try:
        der = base64.b64decode("".join(base64_der.split()), validate=True)
    except binascii.Error as exc:
        raise MetadataNotReady("X509Certificate is not base64") from exc
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
