"""SAML responses shaped like Entra's, signed by xmlsec (libxmlsec1's C implementation).

The validator verifies with signxml; signing here with a different implementation means
a bug shared by signer and verifier cannot make a bad signature look good. Certificates
are generated per test session with `cryptography`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.emulators._pki import Issued, PrivateKey, make_self_signed_rsa

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
TENANT_ID = "57bcdcef-15e9-45a8-9b6b-62efcb7036ba"
ISSUER = f"https://sts.windows.net/{TENANT_ID}/"
USER_POOL_ID = "eu-west-1_AbCdEf123"
DOMAIN = "mobile-sso-example-7f3a.auth.eu-west-1.amazoncognito.com"
ACS_URL = f"https://{DOMAIN}/saml2/idpresponse"
AUDIENCE = f"urn:amazon:cognito:sp:{USER_POOL_ID}"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"


# An RSA key and its self-signed certificate, as Entra's SAML signing certificates are.
Signer = Issued


def make_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_signer(
    key: PrivateKey,
    *,
    not_before: dt.datetime = NOW - dt.timedelta(days=365),
    not_after: dt.datetime = NOW + dt.timedelta(days=2 * 365),
) -> Signer:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("Entra signs SAML with RSA keys")
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Microsoft Azure Federated SSO Certificate")]
    )
    return make_self_signed_rsa(name, not_before, not_after, key=key)


def _default(namespace: str) -> Any:
    """A default-namespace map, as Entra writes its XML (lxml-stubs type nsmap keys as str)."""
    return {None: namespace}


def metadata_xml(certificates: Sequence[x509.Certificate], entity_id: str = ISSUER) -> bytes:
    """An app federation metadata document the way Entra lays it out (unsigned here)."""
    root = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap=_default(MD), entityID=entity_id)
    root.set("ID", f"_{uuid.uuid4()}")
    descriptor = etree.SubElement(
        root,
        f"{{{MD}}}IDPSSODescriptor",
        protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
    )
    for certificate in certificates:
        key = etree.SubElement(descriptor, f"{{{MD}}}KeyDescriptor", use="signing")
        info = etree.SubElement(key, f"{{{DS}}}KeyInfo", nsmap=_default(DS))
        data = etree.SubElement(info, f"{{{DS}}}X509Data")
        etree.SubElement(data, f"{{{DS}}}X509Certificate").text = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode()
    etree.SubElement(
        descriptor,
        f"{{{MD}}}SingleSignOnService",
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        Location=f"https://login.microsoftonline.com/{TENANT_ID}/saml2",
    )
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@dataclass(frozen=True)
class ResponseSpec:
    """Every value of a response Entra posts to Cognito; change one per test."""

    issuer: str = ISSUER
    response_issuer: str | None = ISSUER
    audience: str = AUDIENCE
    recipient: str = ACS_URL
    destination: str | None = ACS_URL
    in_response_to: str | None = "_9b0c6f1e-request-from-cognito"
    issued: dt.datetime = NOW - dt.timedelta(minutes=1)
    valid_before: dt.timedelta = dt.timedelta(minutes=5)
    valid_for: dt.timedelta = dt.timedelta(hours=1)
    status: str = SUCCESS
    sub_status: str | None = None
    status_message: str | None = None
    name_id: str | None = "5b2b8e3c-6f6e-4a7f-9d8b-0d2c0d8f1a11"
    name_id_format: str = PERSISTENT
    attributes: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: {
            EMAIL_CLAIM: ["alice@contoso.com"],
            NAME_CLAIM: ["alice@contoso.onmicrosoft.com"],
        }
    )
    sign_assertion: bool = True
    sign_response: bool = False
    signature_method: str = xmlsec.constants.TransformRsaSha256.href
    assertion_id: str = "_d71a3a8e-9fcc-45c9-9d0e-7d3f0b6a1c01"


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_response(spec: ResponseSpec, signer: Signer) -> etree._Element:
    """The samlp:Response element, signed as `spec` says."""
    response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP})
    response.set("ID", "_" + str(uuid.uuid4()))
    response.set("Version", "2.0")
    response.set("IssueInstant", _instant(spec.issued))
    if spec.destination is not None:
        response.set("Destination", spec.destination)
    if spec.in_response_to is not None:
        response.set("InResponseTo", spec.in_response_to)
    if spec.response_issuer is not None:
        etree.SubElement(
            response, f"{{{SAML}}}Issuer", nsmap=_default(SAML)
        ).text = spec.response_issuer
    status = etree.SubElement(response, f"{{{SAMLP}}}Status")
    code = etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=spec.status)
    if spec.sub_status is not None:
        etree.SubElement(code, f"{{{SAMLP}}}StatusCode", Value=spec.sub_status)
    if spec.status_message is not None:
        etree.SubElement(status, f"{{{SAMLP}}}StatusMessage").text = spec.status_message
    if spec.status == SUCCESS:
        response.append(_assertion(spec))
        if spec.sign_assertion:
            sign(response, response[-1], signer, spec.signature_method)
    if spec.sign_response:
        sign(response, response, signer, spec.signature_method)
    return response


def _assertion(spec: ResponseSpec) -> etree._Element:
    assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap=_default(SAML))
    assertion.set("ID", spec.assertion_id)
    assertion.set("IssueInstant", _instant(spec.issued))
    assertion.set("Version", "2.0")
    etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = spec.issuer
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    if spec.name_id is not None:
        name_id = etree.SubElement(subject, f"{{{SAML}}}NameID", Format=spec.name_id_format)
        name_id.text = spec.name_id
    confirmation = etree.SubElement(
        subject, f"{{{SAML}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
    )
    data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
    if spec.in_response_to is not None:
        data.set("InResponseTo", spec.in_response_to)
    data.set("NotOnOrAfter", _instant(spec.issued + spec.valid_for))
    data.set("Recipient", spec.recipient)
    conditions = etree.SubElement(
        assertion,
        f"{{{SAML}}}Conditions",
        NotBefore=_instant(spec.issued - spec.valid_before),
        NotOnOrAfter=_instant(spec.issued + spec.valid_for),
    )
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = spec.audience
    statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
    for name, values in spec.attributes.items():
        attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
        for value in values:
            etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    authn = etree.SubElement(
        assertion,
        f"{{{SAML}}}AuthnStatement",
        AuthnInstant=_instant(spec.issued - dt.timedelta(minutes=2)),
        SessionIndex=spec.assertion_id,
    )
    context = etree.SubElement(authn, f"{{{SAML}}}AuthnContext")
    etree.SubElement(
        context, f"{{{SAML}}}AuthnContextClassRef"
    ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    return assertion


def sign(
    document: etree._Element, element: etree._Element, signer: Signer, method_href: str
) -> None:
    """Sign `element` in place with an enveloped signature after its Issuer, as Entra does."""
    method = {
        xmlsec.constants.TransformRsaSha256.href: xmlsec.constants.TransformRsaSha256,
        xmlsec.constants.TransformRsaSha1.href: xmlsec.constants.TransformRsaSha1,
    }[method_href]
    digest = (
        xmlsec.constants.TransformSha1
        if method is xmlsec.constants.TransformRsaSha1
        else xmlsec.constants.TransformSha256
    )
    signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, method, ns=None)
    issuer = element.find(f"{{{SAML}}}Issuer")
    position = list(element).index(issuer) + 1 if issuer is not None else 0
    element.insert(position, signature)
    reference = xmlsec.template.add_reference(signature, digest, uri="#" + element.get("ID", ""))
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    xmlsec.tree.add_ids(document, ["ID"])
    context = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(signer.key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(signer.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    context.key = key
    context.sign(signature)


def to_xml(response: etree._Element) -> bytes:
    return etree.tostring(response, xml_declaration=True, encoding="utf-8")


def to_base64(response: etree._Element) -> str:
    """The SAMLResponse form field as Entra's auto-submitting form posts it."""
    return base64.b64encode(etree.tostring(response)).decode("ascii")


def to_har(response: etree._Element, url: str = ACS_URL) -> str:
    """A browser HAR export of the sign-in: a redirect to Entra, then the POST to Cognito."""
    field_value = quote(to_base64(response), safe="")
    entries = [
        {
            "request": {
                "method": "GET",
                "url": f"https://login.microsoftonline.com/{TENANT_ID}/saml2?SAMLRequest=x",
                "headers": [],
            },
            "response": {"status": 200},
        },
        {
            "request": {
                "method": "POST",
                "url": url,
                "headers": [],
                "postData": {
                    "mimeType": "application/x-www-form-urlencoded",
                    "text": f"SAMLResponse={field_value}&RelayState=abc",
                    "params": [
                        {"name": "SAMLResponse", "value": field_value},
                        {"name": "RelayState", "value": "abc"},
                    ],
                },
            },
            "response": {"status": 302},
        },
    ]
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "test"}, "entries": entries}})


def wrapped_beside(response: etree._Element, evil_email: str) -> etree._Element:
    """Signature wrapping: a forged, unsigned copy of the signed assertion put before it."""
    wrapped = copy.deepcopy(response)
    signed = wrapped.find(f"{{{SAML}}}Assertion")
    assert signed is not None
    forged = _forged(signed, evil_email)
    forged.set("ID", "_forged-assertion")
    wrapped.insert(list(wrapped).index(signed), forged)
    return wrapped


def wrapped_with_same_id(response: etree._Element, evil_email: str) -> etree._Element:
    """Signature wrapping: the forged assertion takes the signed one's ID and place; the
    signed one hides in the Response's Extensions, where a careless verifier finds it."""
    wrapped = copy.deepcopy(response)
    signed = wrapped.find(f"{{{SAML}}}Assertion")
    assert signed is not None
    forged = _forged(signed, evil_email)
    index = list(wrapped).index(signed)
    wrapped.remove(signed)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(signed)
    wrapped.insert(1, extensions)
    wrapped.insert(index + 1, forged)
    return wrapped


def wrapped_with_moved_signature(response: etree._Element, evil_email: str) -> etree._Element:
    """Signature wrapping: the forged assertion (own ID) carries the original signature,
    and the signed original sits inside the forged one's Advice."""
    wrapped = copy.deepcopy(response)
    signed = wrapped.find(f"{{{SAML}}}Assertion")
    assert signed is not None
    forged = _forged(signed, evil_email)
    forged.set("ID", "_forged-assertion")
    signature = copy.deepcopy(signed.find(f"{{{DS}}}Signature"))
    assert signature is not None
    forged.insert(1, signature)
    advice = etree.SubElement(forged, f"{{{SAML}}}Advice")
    index = list(wrapped).index(signed)
    wrapped.remove(signed)
    advice.append(signed)
    wrapped.insert(index, forged)
    return wrapped


def _forged(signed: etree._Element, evil_email: str) -> etree._Element:
    forged = copy.deepcopy(signed)
    signature = forged.find(f"{{{DS}}}Signature")
    if signature is not None:
        forged.remove(signature)
    for value in forged.iter(f"{{{SAML}}}AttributeValue"):
        value.text = evil_email
    name_id = forged.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    if name_id is not None:
        name_id.text = "attacker-chosen-id"
    return forged


def with_unreadable_subject(certificate: x509.Certificate) -> x509.Certificate:
    """`certificate` with an invalid UTF-8 byte in its subject's common name: cryptography
    loads it, and fails only when the subject is read."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    encoded = str(common_name).encode()
    at = der.rindex(bytes([0x0C, len(encoded)]) + encoded)  # UTF8String, in the subject
    return x509.load_der_x509_certificate(der[: at + 2] + b"\xff" + der[at + 3 :])


def signed_with(
    spec: ResponseSpec, signer: Signer, change: Callable[[etree._Element], None]
) -> etree._Element:
    """A response whose assertion `change` edits before it is signed (values the spec cannot
    express, such as unreadable times)."""
    response = build_response(replace(spec, sign_assertion=False), signer)
    assertion = response.find(f"{{{SAML}}}Assertion")
    assert assertion is not None
    change(assertion)
    sign(response, assertion, signer, spec.signature_method)
    return response
