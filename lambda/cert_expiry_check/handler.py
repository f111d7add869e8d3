"""Scheduled check: days until each Entra app's SAML signing certificate expires.

Cognito refuses sign-ins once the signing certificate in the IdP's metadata has expired
("SAML Assertion signature is invalid"), and nothing warns before. This function reads
each identity provider's federation metadata URL, the document Cognito itself reads, and
publishes the days left of the listed certificate that expires first as the CloudWatch
metric `SigningCertificateDaysToExpiry` per `IdentityProvider`. Entra lists inactive
certificates too, and the document does not say which one Entra signs with: during a
rotation the new, not yet active certificate must not silence the alarm, so the old one
counts until `mobile-sso rotate-certificate` retires it.

Environment:
- METADATA_URLS: JSON object {"<IdP name>": "<metadata URL>", ...}
- METRIC_NAMESPACE: CloudWatch namespace (default "CognitoEntraSso")

A metadata URL that cannot be read or holds no signing certificate publishes nothing for
that IdP, which the alarm treats as breaching: a broken check is as loud as an expiring
certificate.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from base64 import b64decode
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol
from xml.etree import ElementTree
from xml.parsers import expat

from cryptography import x509

logger = logging.getLogger("cert_expiry_check")
logger.setLevel(logging.INFO)

METRIC_NAME = "SigningCertificateDaysToExpiry"
DEFAULT_NAMESPACE = "CognitoEntraSso"
MAX_METADATA_BYTES = 1_000_000
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_DS = "http://www.w3.org/2000/09/xmldsig#"

Fetch = Callable[[str], bytes]


class MetricsClient(Protocol):
    def put_metric_data(self, **kwargs: Any) -> Any: ...


class MetadataError(Exception):
    """The metadata document cannot be used; the message says why."""


def signing_certificates(document: bytes) -> list[x509.Certificate]:
    """The IdP signing certificates a SAML metadata document publishes."""
    root = _parse(document)
    certificates = []
    for descriptor in root.iter(f"{{{_MD}}}IDPSSODescriptor"):
        for key in descriptor.iter(f"{{{_MD}}}KeyDescriptor"):
            if key.get("use", "signing") != "signing":
                continue
            for element in key.iter(f"{{{_DS}}}X509Certificate"):
                der = b64decode("".join((element.text or "").split()))
                certificates.append(x509.load_der_x509_certificate(der))
    if not certificates:
        raise MetadataError("no IdP signing certificate in the document")
    return certificates


class _DtdRefused(Exception):
    pass


def _refuse_dtd(*_: object) -> NoReturn:
    raise _DtdRefused


def _clark(name: str) -> str:
    """expat's `uri}local` as ElementTree spells it, `{uri}local`."""
    return "{" + name if "}" in name else name


def _parse(document: bytes) -> ElementTree.Element:
    # Metadata never needs a DTD, and entity declarations are the XML attack surface
    # (expansion bombs, external entities). expat refuses a DTD where it starts, in the
    # encoding it detected (UTF-8, UTF-16, with or without a byte order mark), before any
    # declaration in it is read; a byte search would miss UTF-16 and late declarations.
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
        raise MetadataError("the document declares a DTD; refused") from None
    except expat.ExpatError as error:
        raise MetadataError(f"not XML: {error}") from None
    return builder.close()


def days_to_expiry(document: bytes, now: datetime) -> float:
    """Days until the first-expiring listed signing certificate expires (negative if expired)."""
    earliest = min(c.not_valid_after_utc for c in signing_certificates(document))
    return round((earliest - now).total_seconds() / 86400, 2)


def fetch_metadata(url: str) -> bytes:
    if not url.startswith("https://"):
        raise MetadataError("metadata URLs must be https")
    with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - https only
        document: bytes = response.read(MAX_METADATA_BYTES + 1)
    if len(document) > MAX_METADATA_BYTES:
        raise MetadataError("metadata document larger than 1 MB; refused")
    return document


def check(
    metadata_urls: Mapping[str, str],
    *,
    metrics: MetricsClient,
    namespace: str,
    fetch: Fetch = fetch_metadata,
    now: datetime | None = None,
) -> dict[str, float | str]:
    """Publishes one metric per IdP whose metadata is readable; returns days or the error."""
    now = now or datetime.now(UTC)
    results: dict[str, float | str] = {}
    for idp, url in sorted(metadata_urls.items()):
        try:
            days = days_to_expiry(fetch(url), now)
        except (MetadataError, OSError, ValueError) as error:
            results[idp] = f"error: {error}"
            logger.warning(
                json.dumps({"event": "metadata unusable", "idp": idp, "error": str(error)})
            )
            continue
        metrics.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": METRIC_NAME,
                    "Dimensions": [{"Name": "IdentityProvider", "Value": idp}],
                    "Timestamp": now,
                    "Value": days,
                    "Unit": "None",
                }
            ],
        )
        results[idp] = days
        logger.info(json.dumps({"event": "days to expiry", "idp": idp, "days": days}))
    return results


def handler(_event: Mapping[str, Any], _context: Any) -> dict[str, float | str]:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - provided by the runtime

    return check(
        json.loads(os.environ["METADATA_URLS"]),
        metrics=boto3.client("cloudwatch"),
        namespace=os.environ.get("METRIC_NAMESPACE", DEFAULT_NAMESPACE),
    )
