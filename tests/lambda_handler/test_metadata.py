"""metadata.py: reading signing certificate thumbprints from federation metadata, safely."""

from __future__ import annotations

import asyncio
import base64
import http.server
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from entra_saml_app.metadata import (
    MAX_DOCUMENT_BYTES,
    HttpsMetadataSource,
    MetadataNotReady,
    metadata_url,
    signing_thumbprints,
)

from tests import hostile_xml

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


@pytest.mark.parametrize(("encoding", "declared"), hostile_xml.ENCODINGS)
@pytest.mark.parametrize(
    ("dtd", "body"),
    [
        (hostile_xml.BOMB_DTD, hostile_xml.BOMB_BODY),
        (hostile_xml.SMALL_DTD, hostile_xml.SMALL_BODY),
        (hostile_xml.EXTERNAL_DTD, "<EntityDescriptor/>"),
        (hostile_xml.PARAMETER_DTD, "<EntityDescriptor/>"),
    ],
    ids=["bomb", "internal-entity", "external-dtd", "parameter-entity"],
)
def test_dtd_is_refused_by_the_parser_in_every_encoding_it_detects(
    dtd: str, body: str, encoding: str, declared: str
) -> None:
    document = hostile_xml.document(dtd, body, encoding, declared)

    with pytest.raises(MetadataNotReady, match=r"^document declares a DTD$"):
        signing_thumbprints(document)


def test_dtd_after_a_long_comment_is_refused() -> None:
    document = hostile_xml.after_a_long_comment(hostile_xml.SMALL_DTD, hostile_xml.SMALL_BODY)

    with pytest.raises(MetadataNotReady, match=r"^document declares a DTD$"):
        signing_thumbprints(document)


def test_utf32_document_is_not_read() -> None:
    # expat reads UTF-8 and UTF-16 only; UTF-32 is refused before anything in it is read.
    with pytest.raises(MetadataNotReady, match=r"^not XML: "):
        signing_thumbprints(hostile_xml.bomb("utf-32", "UTF-32"))


def test_html_error_page_is_not_metadata() -> None:
    with pytest.raises(MetadataNotReady, match=r"^root element is html, not EntityDescriptor$"):
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


@dataclass
class Endless:
    """A server whose answer is 64 times the size limit, and how much of it was sent."""

    url: str = ""
    total: int = 64 * MAX_DOCUMENT_BYTES
    sent: list[int] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def endless() -> Iterator[Endless]:
    state = Endless()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(state.total))
            self.end_headers()
            chunk, sent = b"<" * 65536, 0
            try:
                while sent < state.total:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the client hung up, as it should
            finally:
                state.sent.append(sent)
                state.finished.set()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/metadata.xml"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def test_oversized_metadata_answer_is_dropped_while_reading(endless: Endless) -> None:
    source = HttpsMetadataSource(verify=True, timeout=10)

    with pytest.raises(
        MetadataNotReady, match=rf"^document larger than {MAX_DOCUMENT_BYTES} bytes$"
    ):
        asyncio.run(source.signing_thumbprints(endless.url))

    assert endless.finished.wait(30), "the server never saw the client hang up"
    (sent,) = endless.sent
    assert sent < endless.total
