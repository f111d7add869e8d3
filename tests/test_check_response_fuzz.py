"""`check-response` on hostile input: a verdict or a finding, never a crash or a forgery.

Property-based (hypothesis), on responses signed by xmlsec (tests/saml_factory.py): structural
mutations of the signed XML (elements deleted, duplicated, moved, reordered, renamed;
attributes deleted or changed; texts changed or split by comments), byte mutations of every
form a capture takes (XML, base64, form body, HAR; UTF-8 with a BOM, UTF-16), freshly signed
responses with arbitrary values and times at the ends of the calendar, malformed HAR
structures, and mutated metadata. The contract checked on each:

- `check_response` returns a report whose findings are well-formed, and none is `internal`
  (every input gets a verdict);
- `accepted` is never true when the signed content (the assertion without its signature, the
  SignedInfo and the SignatureValue) differs from what was signed, nor when the metadata no
  longer lists the signing certificate;
- through the CLI with --json: exit code 0 or 1 matching `accepted`, and the JSON document.

Most examples call `saml_check` in-process; one test goes through the CLI. Runs are
derandomized (the same examples every run, as in CI); set CHECK_RESPONSE_FUZZ_EXAMPLES to run
that many examples per test instead of the default counts.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.saml_check import (
    CATEGORIES,
    Expectations,
    Report,
    check_response,
    parse_metadata,
    read_posted_response,
)
from tests.saml_factory import (
    ACS_URL,
    AUDIENCE,
    DOMAIN,
    DS,
    ISSUER,
    NOW,
    SAML,
    USER_POOL_ID,
    ResponseSpec,
    Signer,
    build_response,
    make_key,
    make_signer,
    metadata_xml,
    signed_with,
    to_har,
    with_unreadable_subject,
)

_SCALE = int(os.environ.get("CHECK_RESPONSE_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> settings:
    """`examples` examples (or CHECK_RESPONSE_FUZZ_EXAMPLES), the same ones every run."""
    return settings(
        max_examples=_SCALE or examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


EXPECT = Expectations(user_pool_id=USER_POOL_ID, domain=DOMAIN, now=NOW)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class World:
    signer: Signer
    metadata: bytes
    responses: tuple[etree._Element, ...]  # assertion signed; response and assertion signed


@pytest.fixture(scope="module")
def world() -> World:
    signer = make_signer(make_key())
    return World(
        signer=signer,
        metadata=metadata_xml([signer.cert]),
        responses=(
            build_response(ResponseSpec(), signer),
            build_response(ResponseSpec(sign_response=True), signer),
        ),
    )


def assert_contract(report: Report) -> None:
    assert isinstance(report, Report)
    assert report.judged, report.findings
    for finding in report.findings:
        assert finding.category in CATEGORIES
        assert finding.severity in ("error", "warning")
        assert finding.message.strip()
        assert finding.fix.strip()
    json.dumps(report.as_dict())


def signed_content(root: etree._Element) -> list[tuple[bytes, bytes, str]]:
    """What the signatures of every Assertion in `root` cover: the assertion without its
    Signature (exclusive C14N, no comments, as Entra signs), its SignedInfo, its value."""
    content = []
    for assertion in root.iter(f"{{{SAML}}}Assertion"):
        unsigned = copy.deepcopy(assertion)
        signature = unsigned.find(f"{{{DS}}}Signature")
        signed_info = b""
        value = ""
        if signature is not None:
            info = signature.find(f"{{{DS}}}SignedInfo")
            if info is not None:
                signed_info = etree.tostring(
                    info, method="c14n", exclusive=True, with_comments=False
                )
            value = "".join(signature.findtext(f"{{{DS}}}SignatureValue", "").split())
            unsigned.remove(signature)
        canonical = etree.tostring(unsigned, method="c14n", exclusive=True, with_comments=False)
        content.append((canonical, signed_info, value))
    return content


# --- forms a capture takes ---------------------------------------------------------------


def _xml(root: etree._Element, encoding: str = "utf-8") -> bytes:
    document = etree.tostring(root, xml_declaration=True, encoding=encoding)
    assert isinstance(document, bytes)
    return document


def _b64(root: etree._Element) -> str:
    return base64.b64encode(etree.tostring(root)).decode("ascii")


FORMS: dict[str, Callable[[etree._Element], bytes]] = {
    "xml": _xml,
    "xml-utf8-bom": lambda root: b"\xef\xbb\xbf" + _xml(root),
    "xml-utf16": lambda root: _xml(root, "UTF-16"),
    "base64": lambda root: _b64(root).encode(),
    "base64-utf16": lambda root: ("\ufeff" + _b64(root)).encode("utf-16-le"),
    "base64-wrapped": lambda root: "\r\n".join(
        _b64(root)[i : i + 76] for i in range(0, len(_b64(root)), 76)
    ).encode(),
    "form": lambda root: f"SAMLResponse={quote(_b64(root), safe='')}&RelayState=x".encode(),
    "har": lambda root: to_har(root).encode(),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_an_untouched_response_is_accepted_in_every_form(world: World, form: str) -> None:
    for response in world.responses:
        report = check_response(FORMS[form](response), world.metadata, EXPECT)

        assert report.findings == ()


# --- structural mutations of the signed XML ----------------------------------------------


# What XML 1.0 documents may hold: tab, LF, CR and U+0020 up, but no surrogate or U+FFFE/F.
_XML_CHARACTERS = st.sampled_from("\t\n\r") | st.characters(
    min_codepoint=0x20, codec="utf-8", exclude_characters="\ufffe\uffff"
)


def _xml_text(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    "",
                    " ",
                    ISSUER,
                    AUDIENCE,
                    ACS_URL,
                    "mallory@evil.example",
                    "urn:oasis:names:tc:SAML:2.0:status:Success",
                    "#_d71a3a8e-9fcc-45c9-9d0e-7d3f0b6a1c01",
                    "0001-01-01T00:00:00+01:00",
                    "9999-12-31T23:59:59-01:00",
                    "\u202e\x85\x9b2J",
                    "AAAA",
                ]
            ),
            st.text(_XML_CHARACTERS, max_size=40),
        )
    )


@st.composite
def mutated_tree(draw: st.DrawFn, base: etree._Element) -> etree._Element:
    root = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        elements = list(root.iter(etree.Element))
        element = elements[draw(st.integers(0, len(elements) - 1))]
        parent = element.getparent()
        operation = draw(
            st.sampled_from(
                ["delete", "duplicate", "move", "reorder", "rename", "attribute", "text", "comment"]
            )
        )
        if operation == "delete" and parent is not None:
            parent.remove(element)
        elif operation == "duplicate" and parent is not None:
            parent.insert(parent.index(element) + draw(st.integers(0, 1)), copy.deepcopy(element))
        elif operation == "move" and parent is not None:
            parent.remove(element)
            targets = list(root.iter(etree.Element))
            target = targets[draw(st.integers(0, len(targets) - 1))]
            target.insert(draw(st.integers(0, len(target))), element)
        elif operation == "reorder" and parent is not None:
            parent.remove(element)
            parent.insert(draw(st.integers(0, len(parent))), element)
        elif operation == "rename":
            namespace = draw(st.sampled_from([SAML, DS, "urn:oasis:names:tc:SAML:2.0:protocol"]))
            name = draw(st.sampled_from(["Assertion", "Signature", "Extensions", "Advice", "X"]))
            element.tag = f"{{{namespace}}}{name}"
        elif operation == "attribute":
            names = sorted(str(name) for name in element.attrib) or ["ID"]
            name = draw(st.sampled_from([*names, "ID", "Id", "Destination"]))
            if draw(st.booleans()) and name in element.attrib:
                del element.attrib[name]
            else:
                element.set(name, _xml_text(draw))
        elif operation == "text":
            element.text = _xml_text(draw)
        elif operation == "comment":
            text = str(element.text or "")
            cut = draw(st.integers(0, len(text)))
            element.text = text[:cut]
            comment = etree.Comment("x")
            comment.tail = text[cut:]
            element.insert(0, comment)
    return root


@fuzz(1000)
@given(data=st.data())
def test_structural_mutations_get_a_verdict_and_never_accept_changed_signed_content(
    world: World, data: st.DataObject
) -> None:
    base = data.draw(st.sampled_from(world.responses))
    mutated = data.draw(mutated_tree(base))
    form = data.draw(st.sampled_from(sorted(FORMS)))

    report = check_response(FORMS[form](mutated), world.metadata, EXPECT)

    assert_contract(report)
    if signed_content(mutated) != signed_content(base):
        assert not report.accepted, "accepted a response whose signed content was changed"


# --- byte mutations of every form ----------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        operation = draw(st.sampled_from(["flip", "truncate", "delete", "insert", "repeat"]))
        if operation == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif operation == "truncate":
            data = data[:at]
        elif operation == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        elif operation == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
        elif operation == "repeat":
            data = data[:at] + data[at : at + draw(st.integers(1, 256))] + data[at:]
    return data


def judged_xml(data: bytes) -> etree._Element:
    """The XML the checker judged in `data` (it accepted it, so it must parse)."""
    return etree.fromstring(read_posted_response(data, EXPECT.acs_url).xml, parser=PARSER)


@fuzz(1500)
@given(data=st.data())
def test_byte_mutations_get_a_verdict_and_never_accept_changed_signed_content(
    world: World, data: st.DataObject
) -> None:
    base = data.draw(st.sampled_from(world.responses))
    form = data.draw(st.sampled_from(sorted(FORMS)))
    mutated = data.draw(mutated_bytes(FORMS[form](base)))

    report = check_response(mutated, world.metadata, EXPECT)

    assert_contract(report)
    if report.accepted:
        assert signed_content(judged_xml(mutated)) == signed_content(base)


# --- freshly signed responses with arbitrary values ----------------------------------------

_EDGE_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.9999999Z",
    "2026-06-01T12:00:00.1234567Z",
    "2026-06-01T12:00:00+25:00",
    "2026-02-30T12:00:00Z",
    "+12026-06-01T12:00:00Z",
    "2026-06-01",
    "",
    "now",
]


def _times(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(_EDGE_TIMES),
            st.builds(
                lambda moment, offset: moment.replace(tzinfo=dt.timezone(offset)).isoformat(),
                st.datetimes(),
                st.timedeltas(-dt.timedelta(hours=23, minutes=59), dt.timedelta(hours=23)),
            ),
        )
    )


@st.composite
def resigned(draw: st.DrawFn, signer: Signer) -> etree._Element:
    values = {
        f"{{{SAML}}}Issuer": _xml_text(draw) if draw(st.booleans()) else None,
        f"{{{SAML}}}NameID": _xml_text(draw) if draw(st.booleans()) else None,
        f"{{{SAML}}}Audience": _xml_text(draw) if draw(st.booleans()) else None,
        f"{{{SAML}}}AttributeValue": _xml_text(draw) if draw(st.booleans()) else None,
    }
    attributes = [
        (f"{{{SAML}}}Conditions", "NotBefore", _times(draw)),
        (f"{{{SAML}}}Conditions", "NotOnOrAfter", _times(draw)),
        (f"{{{SAML}}}SubjectConfirmationData", "NotOnOrAfter", _times(draw)),
        (f"{{{SAML}}}SubjectConfirmationData", "Recipient", _xml_text(draw)),
        (f"{{{SAML}}}SubjectConfirmationData", "InResponseTo", _xml_text(draw)),
        (f"{{{SAML}}}NameID", "Format", _xml_text(draw)),
        (f"{{{SAML}}}Attribute", "Name", _xml_text(draw)),
    ]
    chosen = draw(st.lists(st.sampled_from(attributes), max_size=4, unique=True))

    def change(assertion: etree._Element) -> None:
        for tag, text in values.items():
            element = assertion.find(f".//{tag}")
            if text is not None and element is not None:
                element.text = text
        for tag, name, value in chosen:
            element = assertion.find(f".//{tag}")
            if element is not None:
                element.set(name, value)

    return signed_with(ResponseSpec(), signer, change)


@fuzz(150)
@given(data=st.data())
def test_signed_responses_with_arbitrary_values_and_times_get_a_verdict(
    world: World, data: st.DataObject
) -> None:
    response = data.draw(resigned(world.signer))
    now = data.draw(
        st.one_of(
            st.just(NOW),
            st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59)).map(
                lambda moment: moment.replace(tzinfo=dt.UTC)
            ),
        )
    )
    expect = Expectations(user_pool_id=USER_POOL_ID, domain=DOMAIN, now=now)

    report = check_response(_xml(response), world.metadata, expect)

    assert_contract(report)
    if report.accepted:
        assert response.findtext(f".//{{{SAML}}}Assertion/{{{SAML}}}Issuer", "").strip() == ISSUER
        assert AUDIENCE in [a.text for a in response.iter(f"{{{SAML}}}Audience")]


# --- HAR files of any shape ----------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@fuzz(300)
@given(data=st.data())
def test_har_files_of_any_shape_get_a_verdict(world: World, data: st.DataObject) -> None:
    har = json.loads(to_har(world.responses[0]))
    path = data.draw(
        st.sampled_from(
            [
                ("log",),
                ("log", "entries"),
                ("log", "entries", 1),
                ("log", "entries", 1, "request"),
                ("log", "entries", 1, "request", "method"),
                ("log", "entries", 1, "request", "url"),
                ("log", "entries", 1, "request", "postData"),
                ("log", "entries", 1, "request", "postData", "params"),
                ("log", "entries", 1, "request", "postData", "params", 0),
                ("log", "entries", 1, "request", "postData", "params", 0, "value"),
                ("log", "entries", 1, "request", "postData", "text"),
            ]
        )
    )
    if data.draw(st.booleans()):
        har["log"]["entries"].append(copy.deepcopy(har["log"]["entries"][1]))
        har["log"]["entries"][-1]["request"]["url"] = data.draw(
            st.sampled_from([ACS_URL, "https://other.example/acs", "http://[::1", ""])
        )

    holder: Any = har
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = data.draw(_json)
    report = check_response(json.dumps(har).encode(), world.metadata, EXPECT)

    assert_contract(report)


# --- metadata -------------------------------------------------------------------------------


@fuzz(400)
@given(data=st.data())
def test_mutated_metadata_gets_a_verdict_and_is_trusted_only_with_the_signing_certificate(
    world: World, data: st.DataObject
) -> None:
    stranger = data.draw(st.sampled_from(["none", "unreadable-subject"]))
    certificates = [world.signer.cert]
    if stranger == "unreadable-subject":
        certificates.append(with_unreadable_subject(world.signer.cert))
    document = metadata_xml(certificates)
    if data.draw(st.booleans()):
        root = data.draw(mutated_tree(etree.fromstring(document)))
        document = _xml(root, data.draw(st.sampled_from(["utf-8", "UTF-16"])))
    else:
        document = data.draw(mutated_bytes(document))

    report = check_response(_xml(world.responses[0]), document, EXPECT)

    assert_contract(report)
    if report.accepted:  # the metadata still lists the signing key (its certificate may differ)
        signing_key = world.signer.cert.public_key()
        assert any(c.public_key() == signing_key for c in parse_metadata(document).certificates)


# --- through the command line -----------------------------------------------------------------


@fuzz(60)
@given(data=st.data())
def test_the_cli_answers_mutated_input_with_json_and_a_documented_exit_code(
    world: World, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = data.draw(st.sampled_from(world.responses))
    form = data.draw(st.sampled_from(sorted(FORMS)))
    capture = tmp_path_factory.mktemp("fuzz") / "capture"
    capture.write_bytes(data.draw(mutated_bytes(FORMS[form](base))))
    metadata = capture.with_name("metadata.xml")
    metadata.write_bytes(world.metadata)
    args = ["--metadata", str(metadata), "--user-pool-id", USER_POOL_ID, "--domain", DOMAIN]

    result = CliRunner().invoke(
        app, ["check-response", str(capture), "--json", *args, "--now", NOW.isoformat()]
    )

    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    assert document["accepted"] is (result.exit_code == 0)
    assert all(f["category"] != "internal" for f in document["findings"])
