"""Would Cognito accept this SAML response? The checks behind `mobile-sso check-response`.

Pure functions: bytes in (the captured response, the IdP's federation metadata), a
`Report` out. Every value of the assertion is read from the XML its signature covers
(signxml's `VerifyResult.signed_xml`), never from the document as posted, so an unsigned
assertion slipped beside a signed one (signature wrapping) cannot change the verdict; the
Response's own values (Destination, Status) come from its signed copy when Entra signs
the Response too. XML is parsed with DTDs, entities and network access off.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from mobile_sso.config import ENTRA_EMAIL_CLAIM

# In the order findings are listed: what stops everything first, then the assertion's checks.
Category = Literal[
    "internal",
    "input",
    "metadata",
    "status",
    "signature",
    "issuer",
    "audience",
    "recipient",
    "destination",
    "time",
    "in_response_to",
    "nameid",
    "attributes",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
Severity = Literal["error", "warning"]

DEFAULT_CLOCK_SKEW = dt.timedelta(seconds=300)
CERTIFICATE_WARNING_DAYS = 30
# Cognito's /saml2/idpresponse accepts a SAMLResponse of at most this many characters:
# https://docs.aws.amazon.com/cognito/latest/developerguide/saml2-idpresponse-endpoint.html
MAX_POSTED_CHARACTERS = 100_000
MAX_DOCUMENT_BYTES = 1_000_000
# A capture (a HAR file holds every page of the sign-in, scripts included) is read up to this
# many bytes; readers stop at MAX_CAPTURE_BYTES + 1, so a larger file is never read whole.
MAX_CAPTURE_BYTES = 20_000_000

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ENCRYPTED_ASSERTION = f"{{{SAML}}}EncryptedAssertion"

# The words Cognito shows, where they are known (reported by users, AWS re:Post).
COGNITO_BAD_SIGNATURE = "Invalid SAML response received: SAML Assertion signature is invalid."
ENTRA_CLAIMS_PAGE = "Entra admin center > Enterprise applications > <app> > Single sign-on"

_AADSTS = re.compile(r"AADSTS(\d+)")
# Entra errors that end up in a SAML Status, and what to do about each.
_AADSTS_FIXES: Mapping[str, str] = {
    "50105": "The user is not assigned to the enterprise application and assignment is "
    "required: assign the user, or a group they belong to, in Entra admin center > "
    "Enterprise applications > <app> > Users and groups (or list them in the config's "
    "entra[].assignments and deploy).",
    "700016": "Entra has no application with the identifier Cognito sent: the app's "
    "Identifier (Entity ID) must be urn:amazon:cognito:sp:<user pool id> (the SamlEntityId "
    "output), in the tenant the metadata belongs to.",
    "50011": "The reply URL Cognito asked for is not one of the application's reply URLs: add "
    "https://<Cognito domain>/saml2/idpresponse (the SamlReplyUrl output) under Basic SAML "
    "Configuration > Reply URL.",
    "50020": "The user's account is not in this tenant: invite them as a guest, or have them "
    "sign in through their own tenant's identity provider.",
    "53003": "A Conditional Access policy blocked the sign-in: look it up in Entra admin "
    "center > Sign-in logs (filter by the application) and adjust the policy or the device.",
    "75011": "The authentication method Cognito's request asked for (RequestedAuthnContext) "
    "differs from how the user signed in; sign out of Entra and sign in again.",
}


@dataclass(frozen=True)
class Finding:
    """One reason Cognito would refuse the response (error) or a risk worth fixing (warning)."""

    category: Category
    severity: Severity
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {
            "category": self.category,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]

    @property
    def accepted(self) -> bool:
        """True when no finding is an error: Cognito would sign the user in."""
        return not any(f.severity == "error" for f in self.findings)

    @property
    def judged(self) -> bool:
        """False when the checks themselves failed (an `internal` finding): no verdict."""
        return not any(f.category == "internal" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "findings": [f.as_dict() for f in self.findings]}


@dataclass(frozen=True)
class Expectations:
    """What this user pool expects of a response posted to its /saml2/idpresponse."""

    user_pool_id: str
    domain: str
    now: dt.datetime
    idp_initiated: bool = False
    required_attributes: tuple[str, ...] = (ENTRA_EMAIL_CLAIM,)
    # claim -> pool attribute, to name the attribute the way Cognito's error does
    attribute_names: Mapping[str, str] = field(default_factory=lambda: {ENTRA_EMAIL_CLAIM: "email"})
    clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW

    @property
    def host(self) -> str:
        return normalize_domain(self.domain)

    @property
    def entity_id(self) -> str:
        return f"urn:amazon:cognito:sp:{self.user_pool_id}"

    @property
    def acs_url(self) -> str:
        return f"https://{self.host}/saml2/idpresponse"


def normalize_domain(domain: str) -> str:
    """`https://Auth.Example.com/` -> `auth.example.com`: the host, as the CognitoDomain output."""
    text = domain.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    return text.rstrip("/").lower()


@dataclass(frozen=True)
class UnreadableMetadata:
    """Metadata that could not be had at all (a URL that did not answer); `reason` says why."""

    reason: str


@dataclass(frozen=True)
class Metadata:
    entity_id: str
    certificates: tuple[x509.Certificate, ...]


class _Problem(Exception):
    """Ends the checks early with one finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _problem(category: Category, message: str, fix: str) -> _Problem:
    return _Problem(Finding(category, "error", message, fix))


def internal_failure(exc: BaseException) -> Finding:
    """The finding for a failure of the checker itself: no verdict on the response."""
    return Finding(
        "internal",
        "error",
        f"the check could not judge this input: {type(exc).__name__}: {str(exc)[:300]}",
        "This is a bug in mobile-sso check-response, not a verdict on the response: report "
        "it with this message and the input's shape (a HAR, base64 or XML; not the response "
        "itself, which holds personal data).",
    )


# --- reading the input -------------------------------------------------------------


@dataclass(frozen=True)
class PostedResponse:
    """The response as Cognito receives it: the XML, the length of the posted field, and,
    from a HAR file, the URL it was posted to."""

    xml: bytes
    posted_characters: int
    posted_to: str | None = None


_CAPTURE_FIX = (
    "Pass the SAMLResponse form field as posted (base64, URL-encoded or not), the decoded "
    "XML, or a HAR file of the sign-in recorded in the browser's developer tools "
    "(Network tab, 'Preserve log' on, then 'Export HAR')."
)
_IDP_RESPONSE_PATH = "/saml2/idpresponse"
# Unicode signatures (BOMs) a saved capture may start with, longest first: UTF-32 LE's
# starts with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECLARATION = re.compile(r"<\?xml\s[^>]*\?>")


def read_posted_response(data: bytes, acs_url: str | None = None) -> PostedResponse:
    """Find the SAML response in a capture: base64 text, a form body, raw XML or a HAR file.
    In a HAR file, POSTs to `acs_url` (the pool's /saml2/idpresponse) count first."""
    if len(data) > MAX_CAPTURE_BYTES:
        raise _problem(
            "input", f"the response file is larger than {MAX_CAPTURE_BYTES} bytes", _CAPTURE_FIX
        )
    text, transcoded = _decoded(data)
    text = text.strip()
    if not text:
        raise _problem("input", "the response file is empty", _CAPTURE_FIX)
    if text.startswith("<"):
        # Bytes in an ASCII-compatible encoding go to the parser as they are (it honours the
        # XML declaration); UTF-16/32 text is handed over as UTF-8, without its declaration.
        xml = (
            _XML_DECLARATION.sub("", text, count=1).encode("utf-8")
            if transcoded
            else data.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()
        )
        return PostedResponse(xml, (len(xml) + 2) // 3 * 4)
    if text.startswith("{"):
        value, posted_to = _from_har(text, acs_url)
        return replace(_decode_field(value), posted_to=posted_to)
    if "SAMLResponse=" in text:
        values = parse_qs(text).get("SAMLResponse", [])
        if not values:
            raise _problem("input", "the form body has an empty SAMLResponse", _CAPTURE_FIX)
        return _decode_field(values[-1])
    return _decode_field(text)


def _decoded(data: bytes) -> tuple[str, bool]:
    """The capture as text, and whether it was UTF-16 or UTF-32 (a BOM, or XML's '<')."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), True
    if data.startswith(b"<\x00") or data.startswith(b"\x00<"):
        codec = "utf-16-le" if data.startswith(b"<") else "utf-16-be"
        return data.decode(codec, errors="replace"), True
    return data.decode("utf-8-sig", errors="replace"), False


def _decode_field(value: str) -> PostedResponse:
    if "%" in value:
        value = unquote(value)
    # Form decoding turns base64's '+' into a space; line breaks come from copy and paste.
    compact = "".join(value.split("\n")).replace("\r", "").replace("\t", "").replace(" ", "+")
    if len(compact) > (MAX_DOCUMENT_BYTES + 2) // 3 * 4:
        raise _problem(
            "input", f"the response is larger than {MAX_DOCUMENT_BYTES} bytes", _CAPTURE_FIX
        )
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _problem(
            "input",
            "the response is neither XML nor base64 (nor a HAR file or a form body holding a "
            "SAMLResponse)",
            _CAPTURE_FIX,
        ) from None
    if not xml.lstrip().startswith(b"<"):
        raise _problem("input", "the base64 text does not decode to XML", _CAPTURE_FIX)
    return PostedResponse(xml, len(compact))


def _from_har(text: str, acs_url: str | None) -> tuple[str, str]:
    """The SAMLResponse a HAR file posted, and where to: the newest POST to the pool's
    /saml2/idpresponse, else the newest to any /saml2/idpresponse, else the newest POST."""
    har_fix = (
        "Record the HAR with 'Preserve log' on, from the tap on the sign-in button until the "
        "error shows, so the POST from Entra to https://<Cognito domain>/saml2/idpresponse "
        "is in it; or pass the SAMLResponse value itself."
    )
    try:
        har = json.loads(text)
        entries = har["log"]["entries"]
        if not isinstance(entries, list):
            raise TypeError("entries is not a list")
    except RecursionError:
        raise _problem("input", "not a HAR file (its JSON is nested too deeply)", har_fix) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise _problem("input", f"not a HAR file ({exc})", har_fix) from None

    def rank(url: str) -> int:
        if acs_url is not None and _same_url(url, acs_url):
            return 0
        return 1 if _path_of(url).endswith(_IDP_RESPONSE_PATH) else 2

    posts = [(rank(_url(e)), _url(e), e) for e in reversed(entries) if _method(e) == "POST"]
    for _, url, entry in sorted(posts, key=lambda post: post[0]):  # stable: newest first
        value = _saml_response_param(entry)
        if value:
            return value, url
    raise _problem(
        "input", "the HAR file holds no POST with a SAMLResponse to /saml2/idpresponse", har_fix
    )


def _method(entry: Any) -> str:
    try:
        return str(entry["request"]["method"]).upper()
    except (KeyError, TypeError, IndexError):
        return ""


def _url(entry: Any) -> str:
    try:
        return str(entry["request"]["url"])
    except (KeyError, TypeError, IndexError):
        return ""


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _saml_response_param(entry: Any) -> str | None:
    try:
        post = entry["request"]["postData"]
    except (KeyError, TypeError, IndexError):
        return None
    if not isinstance(post, dict):
        return None
    params = post.get("params")
    for param in params if isinstance(params, list) else []:
        if isinstance(param, dict) and param.get("name") == "SAMLResponse" and param.get("value"):
            return str(param["value"])
    body = post.get("text")
    if isinstance(body, str) and "SAMLResponse=" in body:
        values = parse_qs(body).get("SAMLResponse")
        if values:
            return values[-1]
    return None


def _parse_xml(document: bytes, what: str, category: Category, fix: str) -> etree._Element:
    if len(document) > MAX_DOCUMENT_BYTES:
        raise _problem(category, f"the {what} is larger than {MAX_DOCUMENT_BYTES} bytes", fix)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(document, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise _problem(category, f"the {what} is not well-formed XML: {exc}", fix) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # No SAML message or metadata needs a DTD; they are where XML attacks live.
        raise _problem(category, f"the {what} declares a DTD, which SAML never uses", fix)
    return root


# --- metadata ----------------------------------------------------------------------

_METADATA_FIX = (
    "Pass the application's federation metadata: the IdP<Idp>MetadataUrl output, or the "
    "'App Federation Metadata Url' under Single sign-on > SAML Certificates."
)


def parse_metadata(document: bytes) -> Metadata:
    """The entity id and IdP signing certificates of SAML federation metadata."""
    root = _parse_xml(document, "metadata", "metadata", _METADATA_FIX)
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise _problem(
            "metadata",
            f"the metadata's root element is {_local(root.tag)!r}, not EntityDescriptor "
            "(an HTML error page or a tenant-wide document?)",
            _METADATA_FIX,
        )
    entity_id = root.get("entityID") or ""
    descriptors = root.findall(f"{{{MD}}}IDPSSODescriptor")
    if not descriptors:
        raise _problem(
            "metadata",
            "the metadata has no IDPSSODescriptor: it does not describe a SAML identity provider",
            _METADATA_FIX,
        )
    certificates: dict[bytes, x509.Certificate] = {}
    for descriptor in descriptors:
        for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
            if key.get("use", "signing") != "signing":
                continue
            for element in key.iterfind(
                f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"
            ):
                try:
                    der = base64.b64decode("".join((element.text or "").split()), validate=True)
                    certificate = x509.load_der_x509_certificate(der)
                    # cryptography parses these lazily: read them now, not when printing.
                    certificate.subject.rfc4514_string()
                    certificate.public_key()
                    _ = certificate.not_valid_before_utc, certificate.not_valid_after_utc
                except (binascii.Error, ValueError) as exc:
                    raise _problem(
                        "metadata",
                        f"a signing certificate in the metadata cannot be read: {exc}",
                        _METADATA_FIX,
                    ) from None
                certificates[der] = certificate
    return Metadata(entity_id, tuple(certificates.values()))


def thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 thumbprint, upper-case hex: how the Entra admin center shows certificates."""
    der = certificate.public_bytes(Encoding.DER)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _certificate_findings(metadata: Metadata, now: dt.datetime) -> list[Finding]:
    rotate = (
        "Run `mobile-sso rotate-certificate --env NAME` until it reports done: it adds a new "
        "certificate, activates it once Cognito's cached metadata (up to 6 hours) lists it, "
        "then retires the old one. An IdP created from a metadata file needs the new file "
        f"uploaded (by hand: {ENTRA_CLAIMS_PAGE} > SAML Certificates)."
    )
    if not metadata.certificates:
        return [
            Finding(
                "metadata",
                "error",
                "the metadata lists no IdP signing certificate, so no signature can be trusted",
                rotate,
            )
        ]
    findings = []
    for certificate in metadata.certificates:
        name = f"{certificate.subject.rfc4514_string()} (thumbprint {thumbprint(certificate)})"
        not_after = certificate.not_valid_after_utc
        not_before = certificate.not_valid_before_utc
        if not_after <= now:
            findings.append(
                Finding(
                    "metadata",
                    "error",
                    f"signing certificate {name} expired on {not_after:%Y-%m-%d} "
                    f"({(now - not_after).days} days before {now:%Y-%m-%d}); Cognito refuses "
                    "metadata whose signing certificate has expired",
                    rotate,
                )
            )
        elif not_after - now < dt.timedelta(days=CERTIFICATE_WARNING_DAYS):
            findings.append(
                Finding(
                    "metadata",
                    "warning",
                    f"signing certificate {name} expires on {not_after:%Y-%m-%d}, in "
                    f"{(not_after - now).days} days; after that Cognito refuses the metadata",
                    rotate,
                )
            )
        elif not_before > now:
            findings.append(
                Finding(
                    "metadata",
                    "warning",
                    f"signing certificate {name} is valid only from {not_before:%Y-%m-%d}",
                    "Check the clock, or wait: a certificate Entra made today may be dated "
                    "a little ahead.",
                )
            )
    return findings


# --- signatures --------------------------------------------------------------------


@dataclass(frozen=True)
class _Verified:
    signed: etree._Element
    sha1: bool


def _verify(
    element: etree._Element, certificates: Sequence[x509.Certificate], now: dt.datetime
) -> _Verified | str:
    """The signed copy of `element`, verified by its own enveloped signature, or why not."""
    signature = element.find(f"{{{DS}}}Signature")
    if signature is None:
        return "it carries no signature"
    element_id = element.get("ID")
    reference = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if element_id is None or reference is None or reference.get("URI") != f"#{element_id}":
        return "its signature does not reference the element it sits in"
    reasons: list[str] = []
    for certificate in certificates:
        config = SignatureConfiguration(
            location="./",
            expect_references=1,
            signature_methods=frozenset(SignatureMethod),
            digest_algorithms=frozenset(DigestAlgorithm),
            # Expiry is the metadata check's finding; here only the cryptography counts.
            verification_time=_within_validity(certificate, now),
        )
        try:
            result = XMLVerifier().verify(element, x509_cert=certificate, expect_config=config)
        except SignXMLException as exc:
            reasons.append(str(exc) or type(exc).__name__)
            continue
        except Exception as exc:  # whatever signxml trips on, it did not verify
            # An empty SignatureValue raises TypeError, a SignedInfo out of schema lxml's
            # DocumentInvalid: hostile input reaches signxml's unguarded corners.
            reasons.append(f"{type(exc).__name__}: {exc}")
            continue
        assert isinstance(result, VerifyResult)  # noqa: S101 - expect_references=1
        signed = result.signed_xml
        if signed is None or signed.tag != element.tag or signed.get("ID") != element_id:
            return "its signature covers something else than the element"
        method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
        digest = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}DigestMethod")
        algorithms = " ".join(
            (node.get("Algorithm") or "") for node in (method, digest) if node is not None
        )
        return _Verified(signed, sha1=bool(re.search(r"sha1\b", algorithms)))
    signer = _signer_thumbprint(signature)
    known = {thumbprint(c) for c in certificates}
    if signer and signer not in known:
        return (
            f"it was signed with a certificate (thumbprint {signer}) that the metadata does "
            f"not list (it lists {', '.join(sorted(known))})"
        )
    return "it does not verify against the metadata's signing certificate(s): " + "; ".join(
        dict.fromkeys(reasons)
    )


def _within_validity(certificate: x509.Certificate, now: dt.datetime) -> dt.datetime:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return now if start <= now <= end else start + (end - start) / 2


def _signer_thumbprint(signature: etree._Element) -> str | None:
    element = signature.find(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if element is None or not (element.text or "").strip():
        return None
    try:
        der = base64.b64decode("".join((element.text or "").split()), validate=True)
        return thumbprint(x509.load_der_x509_certificate(der))
    except (binascii.Error, ValueError):
        return None


def _duplicate_ids(root: etree._Element) -> list[str]:
    seen: dict[str, int] = {}
    for element in root.iter():
        for name, value in element.attrib.items():
            if _local(str(name)) in ("ID", "Id", "id"):
                seen[str(value)] = seen.get(str(value), 0) + 1
    return sorted(value for value, count in seen.items() if count > 1)


# --- the checks --------------------------------------------------------------------


def read_metadata(
    document: bytes | UnreadableMetadata, now: dt.datetime
) -> tuple[Metadata | None, list[Finding]]:
    """The metadata, if it can be read, and what is wrong with it: unreachable, not SAML
    metadata, or signing certificates that are missing, expired or expire within 30 days."""
    if isinstance(document, UnreadableMetadata):
        return None, [Finding("metadata", "error", document.reason, _METADATA_FIX)]
    try:
        metadata = parse_metadata(document)
    except _Problem as problem:
        return None, [problem.finding]
    return metadata, _certificate_findings(metadata, now)


def check_response(
    response: bytes, metadata: bytes | UnreadableMetadata, expect: Expectations
) -> Report:
    """Everything Cognito checks of a response posted to /saml2/idpresponse, as findings.

    Never raises: a failure of the checks themselves is an `internal` finding (the report is
    then no verdict: `Report.judged` is False)."""
    try:
        trusted_metadata, findings = read_metadata(metadata, expect.now)
        try:
            findings += _check_document(response, trusted_metadata, expect)
        except _Problem as problem:
            findings.append(problem.finding)
    except Exception as exc:  # the contract: findings, never a traceback
        findings = [internal_failure(exc)]
    order = {category: index for index, category in enumerate(CATEGORIES)}
    findings.sort(key=lambda f: (order[f.category], f.severity != "error"))
    return Report(tuple(findings))


def _check_document(
    response: bytes, metadata: Metadata | None, expect: Expectations
) -> list[Finding]:
    posted = read_posted_response(response, expect.acs_url)
    root = _parse_xml(posted.xml, "response", "input", _CAPTURE_FIX)
    if root.tag != f"{{{SAMLP}}}Response":
        raise _problem(
            "input",
            f"the XML is a {_local(root.tag)!r}, not a SAML protocol Response",
            _CAPTURE_FIX,
        )
    findings: list[Finding] = []
    if posted.posted_to is not None and not _same_url(posted.posted_to, expect.acs_url):
        findings.append(
            Finding(
                "input",
                "warning",
                f"the HAR file has no POST with a SAMLResponse to {expect.acs_url}; the one "
                f"judged was posted to {posted.posted_to!r}, so Cognito never received it",
                "Record the HAR of a sign-in through this user pool's domain (--domain, or "
                "the CognitoDomain output), or check that the domain is the right one.",
            )
        )
    if posted.posted_characters > MAX_POSTED_CHARACTERS:
        findings.append(
            Finding(
                "input",
                "error",
                f"the SAMLResponse is {posted.posted_characters} characters; Cognito's "
                f"/saml2/idpresponse accepts at most {MAX_POSTED_CHARACTERS}",
                "Send fewer claims: e.g. emit only groups assigned to the application "
                f"({ENTRA_CLAIMS_PAGE} > Attributes & Claims > groups claim).",
            )
        )
    duplicates = _duplicate_ids(root)
    if duplicates:
        raise _problem(
            "signature",
            f"the ID(s) {duplicates} appear more than once: the shape of a signature-wrapping "
            "attack, which Cognito refuses",
            "Capture an untouched response straight from Entra; nothing between Entra and "
            "Cognito may rewrite it.",
        )
    if metadata is None:
        raise _problem(
            "signature",
            "without readable metadata no signature can be checked, so nothing in the "
            "response can be trusted",
            _METADATA_FIX,
        )

    envelope: etree._Element = root
    if root.find(f"{{{DS}}}Signature") is not None:
        verified = _verify(root, metadata.certificates, expect.now)
        if isinstance(verified, str):
            raise _problem(
                "signature",
                f"the Response is signed but {verified}; Cognito: '{COGNITO_BAD_SIGNATURE}'",
                _signature_fix(verified),
            )
        envelope = verified.signed
        findings += _sha1_warning(verified, "Response")

    status = _status_finding(envelope)
    assertions = [e for e in root if e.tag in (f"{{{SAML}}}Assertion", ENCRYPTED_ASSERTION)]
    if status is not None:
        return [*findings, status]  # a failure status carries no assertion to judge
    if any(e.tag == ENCRYPTED_ASSERTION for e in assertions):
        raise _problem(
            "input",
            "the assertion is encrypted; only Cognito holds the key to read it",
            "Capture the response with 'Require encrypted SAML assertions' off on the "
            "Cognito identity provider (and token encryption off in Entra), or check in "
            "Cognito's logs.",
        )
    if not assertions:
        raise _problem(
            "input",
            "the Response has status Success but holds no Assertion",
            _CAPTURE_FIX,
        )
    if len(assertions) > 1:
        raise _problem(
            "signature",
            f"the Response holds {len(assertions)} assertions; Entra sends one, and an extra "
            "(unsigned) assertion beside a signed one is a signature-wrapping attack",
            "Capture an untouched response straight from Entra; if this is what the browser "
            "posted, treat it as an attack.",
        )
    verified_assertion = _verify(assertions[0], metadata.certificates, expect.now)
    if isinstance(verified_assertion, str):
        raise _problem(
            "signature",
            f"the Assertion is not trusted: {verified_assertion}{_why_signed(verified_assertion)}; "
            f"Cognito answers '{COGNITO_BAD_SIGNATURE}'",
            _signature_fix(verified_assertion),
        )
    findings += _sha1_warning(verified_assertion, "Assertion")
    assertion = verified_assertion.signed
    findings += _issuer_findings(envelope, assertion, metadata)
    findings += _audience_findings(assertion, expect)
    findings += _recipient_findings(assertion, expect)
    findings += _destination_findings(envelope, expect)
    findings += _time_findings(assertion, expect)
    findings += _in_response_to_findings(envelope, assertion, expect)
    findings += _nameid_findings(assertion)
    findings += _attribute_findings(assertion, expect)
    return findings


def _why_signed(reason: str) -> str:
    if "carries no signature" not in reason:
        return ""
    return " (a signed Response is not enough: Cognito's SP metadata says WantAssertionsSigned)"


def _signature_fix(reason: str) -> str:
    if "does not list" in reason:
        return (
            "Entra signed with a certificate the metadata does not hold: check that the "
            "metadata is this application's (the IdP<Idp>MetadataUrl output) and current. "
            f"{ENTRA_CLAIMS_PAGE} > SAML Certificates shows the active certificate; Cognito "
            "re-reads a metadata URL within 6 hours of a change."
        )
    if "carries no signature" in reason:
        return (
            f"{ENTRA_CLAIMS_PAGE} > SAML Certificates > Signing Option: choose 'Sign SAML "
            "assertion' (Entra's default) or 'Sign SAML response and assertion'."
        )
    return (
        "The signed XML was changed after Entra signed it (by a proxy, or by hand while "
        "capturing): capture an untouched response. If it is untouched, the metadata holds "
        "another key than the one Entra signs with."
    )


def _sha1_warning(verified: _Verified, what: str) -> list[Finding]:
    if not verified.sha1:
        return []
    return [
        Finding(
            "signature",
            "warning",
            f"the {what} is signed with SHA-1, which is broken for signatures",
            f"{ENTRA_CLAIMS_PAGE} > SAML Certificates > Signing Algorithm: SHA-256.",
        )
    ]


def _status_finding(envelope: etree._Element) -> Finding | None:
    top = envelope.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    code = top.get("Value", "") if top is not None else ""
    if code == STATUS_SUCCESS:
        return None
    second = top.find(f"{{{SAMLP}}}StatusCode") if top is not None else None
    codes = "/".join(
        _last_word(c) for c in (code, second.get("Value", "") if second is not None else "") if c
    )
    message_element = envelope.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusMessage")
    detail = envelope.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusDetail")
    text = " ".join(
        " ".join(_all_text(e).split()) for e in (message_element, detail) if e is not None
    )
    match = _AADSTS.search(text)
    entra_says = f": {text[:400]}" if text else ""
    fix = _AADSTS_FIXES.get(match.group(1) if match else "") or (
        "Look the sign-in up in Entra admin center > Monitoring > Sign-in logs (filter by "
        "the application): the failure reason there names the fix."
    )
    return Finding(
        "status",
        "error",
        f"Entra answered {codes or 'no status'} instead of Success{entra_says}",
        fix,
    )


def _issuer_findings(
    envelope: etree._Element, assertion: etree._Element, metadata: Metadata
) -> list[Finding]:
    fix = (
        f"Entra's issuer is https://sts.windows.net/<tenant id>/: the response comes from "
        f"another tenant or application than the metadata ({metadata.entity_id}). Check "
        "the config's entra[].tenant_id and that the metadata is this application's."
    )
    findings = []
    issuer = _text(assertion.find(f"{{{SAML}}}Issuer"))
    if issuer != metadata.entity_id:
        findings.append(
            Finding(
                "issuer",
                "error",
                f"the assertion's Issuer is {issuer!r}, not the metadata's entityID "
                f"{metadata.entity_id!r}",
                fix,
            )
        )
    outer = envelope.find(f"{{{SAML}}}Issuer")
    if outer is not None and _text(outer) != metadata.entity_id:
        findings.append(
            Finding(
                "issuer",
                "error",
                f"the Response's Issuer is {_text(outer)!r}, not the metadata's entityID "
                f"{metadata.entity_id!r}",
                fix,
            )
        )
    return findings


def _audience_findings(assertion: etree._Element, expect: Expectations) -> list[Finding]:
    restrictions = assertion.findall(f"{{{SAML}}}Conditions/{{{SAML}}}AudienceRestriction")
    fix = (
        f"Set the enterprise application's Identifier (Entity ID) to {expect.entity_id} (the "
        "SamlEntityId output) under Basic SAML Configuration. A mismatched identifier in an "
        "SP-initiated sign-in stops at Entra with AADSTS700016."
    )
    if not restrictions:
        return [
            Finding(
                "audience",
                "warning",
                "the assertion names no audience, so nothing ties it to this user pool",
                fix,
            )
        ]
    for restriction in restrictions:
        audiences = [_text(a) for a in restriction.findall(f"{{{SAML}}}Audience")]
        if expect.entity_id not in audiences:
            return [
                Finding(
                    "audience",
                    "error",
                    f"the assertion is meant for {audiences}, not for {expect.entity_id}; "
                    "Cognito refuses an assertion addressed to another service provider",
                    fix,
                )
            ]
    return []


def _reply_url_fix(expect: Expectations) -> str:
    return (
        f"Set the enterprise application's Reply URL (Assertion Consumer Service URL) to "
        f"{expect.acs_url} (the SamlReplyUrl output) under Basic SAML Configuration, and "
        "make it the default. An SP-initiated request naming a reply URL the app lacks stops "
        "at Entra with AADSTS50011."
    )


def _recipient_findings(assertion: etree._Element, expect: Expectations) -> list[Finding]:
    bearer = [
        c
        for c in assertion.findall(f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation")
        if c.get("Method") == BEARER
    ]
    if not bearer:
        return [
            Finding(
                "recipient",
                "error",
                "the assertion has no bearer SubjectConfirmation, which the browser SSO "
                "profile Cognito implements requires",
                _reply_url_fix(expect),
            )
        ]
    recipients = [
        (data.get("Recipient") or "")
        for c in bearer
        for data in c.findall(f"{{{SAML}}}SubjectConfirmationData")
    ]
    if any(_same_url(r, expect.acs_url) for r in recipients):
        return []
    return [
        Finding(
            "recipient",
            "error",
            f"SubjectConfirmationData Recipient is {recipients or 'missing'}, not "
            f"{expect.acs_url}; Cognito refuses an assertion meant for another endpoint",
            _reply_url_fix(expect),
        )
    ]


def _destination_findings(envelope: etree._Element, expect: Expectations) -> list[Finding]:
    destination = envelope.get("Destination")
    if destination is None:
        return [
            Finding(
                "destination",
                "warning",
                "the Response has no Destination",
                _reply_url_fix(expect),
            )
        ]
    if _same_url(destination, expect.acs_url):
        return []
    return [
        Finding(
            "destination",
            "error",
            f"the Response's Destination is {destination!r}, not {expect.acs_url}",
            _reply_url_fix(expect),
        )
    ]


def _same_url(actual: str, expected: str) -> bool:
    try:
        a, b = urlsplit(actual.strip()), urlsplit(expected)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return (a.scheme.lower(), a.netloc.lower(), a.path, a.query) == (
        b.scheme.lower(),
        b.netloc.lower(),
        b.path,
        b.query,
    )


def _time_findings(assertion: etree._Element, expect: Expectations) -> list[Finding]:
    windows: list[tuple[str, etree._Element]] = []
    conditions = assertion.find(f"{{{SAML}}}Conditions")
    if conditions is not None:
        windows.append(("Conditions", conditions))
    for data in assertion.iterfind(
        f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation/{{{SAML}}}SubjectConfirmationData"
    ):
        windows.append(("SubjectConfirmationData", data))
    starts: list[tuple[dt.datetime, str]] = []
    ends: list[tuple[dt.datetime, str]] = []
    for where, element in windows:
        try:
            not_before = _instant(element.get("NotBefore"))
            not_on_or_after = _instant(element.get("NotOnOrAfter"))
        except ValueError as exc:
            return [
                Finding(
                    "time",
                    "error",
                    f"{where} has an unreadable time: {exc}",
                    "Capture an untouched response straight from Entra: Entra writes times "
                    "such as 2026-11-27T09:30:00.123Z.",
                )
            ]
        if not_before is not None:
            starts.append((not_before, f"{where} NotBefore"))
        if not_on_or_after is not None:
            ends.append((not_on_or_after, f"{where} NotOnOrAfter"))
    now, skew = expect.now.astimezone(dt.UTC), expect.clock_skew
    at = f"at {_iso(now)}, with {int(skew.total_seconds())} s of clock skew allowed"
    findings = []
    # Differences, not now ± skew: those overflow at the years 1 and 9999.
    too_early = sorted(start for start in starts if start[0] - now > skew)
    if too_early:
        latest, names = too_early[-1][0], ", ".join(name for _, name in too_early)
        findings.append(
            Finding(
                "time",
                "error",
                f"the assertion is not valid yet {at}: {names} {_iso(latest)}, "
                f"{_duration(latest - now)} ahead",
                "Entra's clock is ahead of the clock judging it: check the time of the "
                "machine running this check (or --now) and sign in again.",
            )
        )
    expired = sorted(end for end in ends if now - end[0] >= skew)
    if expired:
        earliest, names = expired[0][0], ", ".join(name for _, name in expired)
        findings.append(
            Finding(
                "time",
                "error",
                f"the assertion has expired {at}: {names} {_iso(earliest)}, "
                f"{_duration(now - earliest)} ago",
                _TIME_FIX,
            )
        )
    return findings


def _duration(span: dt.timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


_TIME_FIX = (
    "Checking an old capture? Pass --now with the time it was taken. Otherwise the response "
    "reached Cognito too late (a browser tab left open, a slow redirect): sign in again."
)


def _instant(value: str | None) -> dt.datetime | None:
    """The instant in UTC (so that comparing and subtracting cannot overflow)."""
    if value is None:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())  # .NET writes 7 fraction digits
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 ahead of UTC, or year 9999 behind it
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC") from None


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in_response_to_findings(
    envelope: etree._Element, assertion: etree._Element, expect: Expectations
) -> list[Finding]:
    signed_values = {
        data.get("InResponseTo")
        for data in assertion.iterfind(
            f"{{{SAML}}}Subject/{{{SAML}}}SubjectConfirmation/{{{SAML}}}SubjectConfirmationData"
        )
        if data.get("InResponseTo")
    }
    outer = envelope.get("InResponseTo")
    if outer and signed_values and outer not in signed_values:
        return [
            Finding(
                "in_response_to",
                "error",
                f"the Response answers request {outer!r} but its assertion answers "
                f"{sorted(v for v in signed_values if v)}",
                "Capture an untouched response straight from Entra.",
            )
        ]
    if signed_values or outer or expect.idp_initiated:
        return []
    return [
        Finding(
            "in_response_to",
            "error",
            "the response answers no request (no InResponseTo): it is IdP-initiated, e.g. "
            "started from the My Apps portal; Cognito accepts that only when the identity "
            "provider has IdP-initiated sign-in (IDPInit) on, which is off unless the config "
            "sets entra[].idp_initiated",
            "Start the sign-in from the app (Cognito's /oauth2/authorize with "
            "identity_provider=<IdP name>). To allow sign-in from My Apps, set "
            "entra[].idp_initiated: true and deploy (Cognito then cannot tie a response to a "
            "request), and check with --idp-initiated.",
        )
    ]


def _nameid_findings(assertion: etree._Element) -> list[Finding]:
    name_id = assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    stable_fix = (
        f"{ENTRA_CLAIMS_PAGE} > Attributes & Claims > Unique User Identifier (Name ID): use "
        "a value that never changes, such as user.objectid, with the format Persistent."
    )
    if name_id is None or not _text(name_id):
        return [
            Finding(
                "nameid",
                "error",
                "the assertion's Subject has no NameID (or an empty one); Cognito names the "
                "federated user after it",
                stable_fix,
            )
        ]
    name_format = name_id.get("Format") or "unspecified"
    if name_format == NAMEID_PERSISTENT:
        return []
    if name_format == NAMEID_TRANSIENT:
        message = (
            "the NameID is transient: it changes at every sign-in, and Cognito makes a new "
            "user each time (users are <IdP name>_<NameID>)"
        )
    else:
        message = (
            f"the NameID format is {_last_word(name_format)!r}, not persistent: if the value "
            "changes (a renamed UPN or email), Cognito makes a new user for the same person"
        )
    return [Finding("nameid", "warning", message, stable_fix)]


def _attribute_findings(assertion: etree._Element, expect: Expectations) -> list[Finding]:
    values: dict[str, list[str]] = {}
    for attribute in assertion.iterfind(f"{{{SAML}}}AttributeStatement/{{{SAML}}}Attribute"):
        texts = [_all_text(v).strip() for v in attribute.findall(f"{{{SAML}}}AttributeValue")]
        values.setdefault(attribute.get("Name") or "", []).extend(texts)
    findings = []
    for claim in expect.required_attributes:
        pool_attribute = expect.attribute_names.get(claim, claim)
        cognito_says = (
            f"Cognito: 'Invalid SAML response received: Invalid user attributes: "
            f"{pool_attribute}: The attribute is required'"
        )
        if claim not in values:
            findings.append(
                Finding(
                    "attributes",
                    "error",
                    f"the assertion has no attribute {claim}; {cognito_says}",
                    f"{ENTRA_CLAIMS_PAGE} > Attributes & Claims: add the claim {claim} "
                    "(source user.mail, or user.userprincipalname), or map the claim Entra "
                    f"does send to {pool_attribute} in the config's entra[].attribute_mapping.",
                )
            )
        elif not any(values[claim]):
            findings.append(
                Finding(
                    "attributes",
                    "error",
                    f"the attribute {claim} is empty for this user; {cognito_says} (or, "
                    "for a user who signed in before, 'Required attribute cannot be deleted')",
                    "The claim's source is empty for this user (user.mail is empty for "
                    "accounts without a mailbox): fill the user's Email in Entra, or set the "
                    f"claim's source to user.userprincipalname in {ENTRA_CLAIMS_PAGE} > "
                    "Attributes & Claims.",
                )
            )
    return findings


# --- small helpers -----------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _last_word(uri: str) -> str:
    return re.split(r"[:/#]", uri)[-1] or uri


def _text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    return _all_text(element).strip()


def _all_text(element: etree._Element) -> str:
    return "".join(str(text) for text in element.itertext())
