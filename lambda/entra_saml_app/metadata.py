"""The app's federation metadata document: fetched over HTTPS, read defensively.

Cognito reads the same URL when the SAML identity provider is created, so the resource is
complete only once this document names the signing certificate the handler activated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from typing import NoReturn
from xml.etree import ElementTree
from xml.parsers import expat

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
            async with (
                httpx.AsyncClient(verify=self._verify, timeout=self._timeout) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise MetadataNotReady(f"HTTP {response.status_code}")
                document = await _read_at_most(response, MAX_DOCUMENT_BYTES)
        except httpx.HTTPError as exc:
            raise MetadataNotReady(f"fetch failed: {type(exc).__name__}") from exc
        return signing_thumbprints(document)


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The body, read chunk by chunk and dropped once it passes `limit` (decoded) bytes."""
    document = bytearray()
    async for chunk in response.aiter_bytes():
        document += chunk
        if len(document) > limit:
            raise MetadataNotReady(f"document larger than {limit} bytes")
    return bytes(document)


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


class _DtdRefused(Exception):
    pass


def _refuse_dtd(*_: object) -> NoReturn:
    raise _DtdRefused


def _clark(name: str) -> str:
    """expat's `uri}local` as ElementTree spells it, `{uri}local`."""
    return "{" + name if "}" in name else name


def _parse(document: bytes) -> ElementTree.Element:
    if len(document) > MAX_DOCUMENT_BYTES:
        raise MetadataNotReady(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    # Entity declarations are the XML attack surface (expansion bombs, external entities),
    # and metadata never needs a DTD. expat refuses one where it starts, in whichever
    # encoding it detected (UTF-8, UTF-16, with or without a byte order mark), before any
    # declaration in it is read; a byte search would miss UTF-16.
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = lambda tag, attributes: builder.start(
        _clark(tag), {_clark(name): value for name, value in attributes.items()}
    )
    parser.EndElementHandler = lambda tag: builder.end(_clark(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(document, True)
    except _DtdRefused:
        raise MetadataNotReady("document declares a DTD") from None
    except expat.ExpatError as exc:
        raise MetadataNotReady(f"not XML: {exc}") from exc
    return builder.close()


def _thumbprint(base64_der: str) -> str:
    try:
        der = base64.b64decode("".join(base64_der.split()), validate=True)
    except binascii.Error as exc:
        raise MetadataNotReady("X509Certificate is not base64") from exc
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
