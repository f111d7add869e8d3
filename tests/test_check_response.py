"""`mobile-sso check-response`: would Cognito accept this SAML response?

Responses are signed by xmlsec (libxmlsec1) in tests/saml_factory.py; the command verifies
with signxml, so the two implementations check each other.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import http.server
import io
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import typer
from lxml import etree
from typer.testing import CliRunner

from mobile_sso import check_response as check_response_module
from mobile_sso import saml_check
from mobile_sso.check_response import check_response_command, fetch_metadata, read_limited
from mobile_sso.cli import app
from mobile_sso.saml_check import MAX_CAPTURE_BYTES, MAX_DOCUMENT_BYTES, UnreadableMetadata
from tests.saml_factory import (
    ACS_URL,
    DOMAIN,
    DS,
    EMAIL_CLAIM,
    ISSUER,
    NAME_CLAIM,
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
    to_base64,
    to_har,
    to_xml,
    with_unreadable_subject,
    wrapped_beside,
    wrapped_with_moved_signature,
    wrapped_with_same_id,
)

FIXTURES = Path(__file__).parent / "fixtures"
ENTRA_METADATA = FIXTURES / "app-federation-metadata.xml"
GOOD = ResponseSpec()
runner = CliRunner()


@dataclass(frozen=True)
class Keys:
    signer: Signer
    stranger: Signer  # a key the metadata does not list


@pytest.fixture(scope="module")
def keys() -> Keys:
    key = make_key()
    return Keys(signer=make_signer(key), stranger=make_signer(make_key()))


@pytest.fixture(scope="module")
def metadata(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("metadata") / "metadata.xml"
    path.write_bytes(metadata_xml([keys.signer.cert]))
    return path


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    report: dict[str, Any]

    @property
    def errors(self) -> set[str]:
        return {f["category"] for f in self.report["findings"] if f["severity"] == "error"}

    @property
    def warnings(self) -> set[str]:
        return {f["category"] for f in self.report["findings"] if f["severity"] == "warning"}

    def finding(self, category: str) -> dict[str, str]:
        found = [f for f in self.report["findings"] if f["category"] == category]
        assert found, self.report
        return dict(found[0])


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, ["check-response", *args])


def expectation_args(metadata: Path | str) -> list[str]:
    return [
        "--metadata",
        str(metadata),
        "--user-pool-id",
        USER_POOL_ID,
        "--domain",
        DOMAIN,
        "--now",
        NOW.isoformat(),
    ]


def check_text(tmp_path: Path, text: str | bytes, metadata: Path | str, *extra: str) -> Outcome:
    capture = tmp_path / "capture.txt"
    capture.write_bytes(text.encode() if isinstance(text, str) else text)
    # The extra options come last, so that they override the expectations.
    result = invoke([str(capture), "--json", *expectation_args(metadata), *extra])
    assert result.exit_code in (0, 1), result.output
    return Outcome(result.exit_code, json.loads(result.stdout))


def check(tmp_path: Path, spec: ResponseSpec, keys: Keys, metadata: Path, *extra: str) -> Outcome:
    return check_text(tmp_path, to_base64(build_response(spec, keys.signer)), metadata, *extra)


# --- the verdict -------------------------------------------------------------------


def test_good_response_is_accepted_with_exit_0(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    outcome = check(tmp_path, GOOD, keys, metadata)

    assert outcome.exit_code == 0
    assert outcome.report == {"accepted": True, "findings": []}


def test_refused_response_exits_1_with_accepted_false(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    outcome = check(tmp_path, replace(GOOD, audience="urn:amazon:cognito:sp:other"), keys, metadata)

    assert outcome.exit_code == 1
    assert outcome.report["accepted"] is False


def test_json_findings_carry_exactly_category_severity_message_fix(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    outcome = check(tmp_path, replace(GOOD, audience="urn:amazon:cognito:sp:other"), keys, metadata)

    assert set(outcome.report) == {"accepted", "findings"}
    assert [set(f) for f in outcome.report["findings"]] == [
        {"category", "severity", "message", "fix"}
    ]


def test_human_output_is_a_table_and_a_verdict_without_colour_off_a_terminal(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    capture = tmp_path / "capture.txt"
    spec = replace(GOOD, attributes={NAME_CLAIM: ["alice@contoso.onmicrosoft.com"]})
    capture.write_text(to_base64(build_response(spec, keys.signer)))

    result = invoke([str(capture), *expectation_args(metadata)])

    assert result.exit_code == 1
    assert "Category" in result.stdout
    assert "attributes" in result.stdout
    assert "Cognito would refuse this response: 1 error(s)." in result.stdout
    assert "\x1b[" not in result.stdout


def test_human_output_of_a_good_response_says_cognito_would_accept_it(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text(to_base64(build_response(GOOD, keys.signer)))

    result = invoke([str(capture), *expectation_args(metadata)])

    assert result.exit_code == 0
    assert result.stdout.strip() == "Cognito would accept this response."


# --- input -------------------------------------------------------------------------


def test_base64_with_line_breaks_is_read(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    encoded = to_base64(build_response(GOOD, keys.signer))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    assert check_text(tmp_path, wrapped, metadata).report["accepted"] is True


def test_url_encoded_base64_is_read(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    encoded = quote(to_base64(build_response(GOOD, keys.signer)), safe="")
    assert "%2B" in encoded or "%2F" in encoded or "%3D" in encoded

    assert check_text(tmp_path, encoded, metadata).report["accepted"] is True


def test_raw_xml_is_read(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    xml = to_xml(build_response(GOOD, keys.signer))

    assert check_text(tmp_path, xml, metadata).report["accepted"] is True


def test_har_file_post_to_idpresponse_is_read(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    har = to_har(build_response(GOOD, keys.signer))

    assert check_text(tmp_path, har, metadata).report["accepted"] is True


def test_har_file_judges_the_latest_post_to_idpresponse(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    old = json.loads(to_har(build_response(replace(GOOD, audience="urn:x"), keys.signer)))
    new = json.loads(to_har(build_response(GOOD, keys.signer)))
    old["log"]["entries"] += new["log"]["entries"]

    assert check_text(tmp_path, json.dumps(old), metadata).report["accepted"] is True


def test_har_without_a_saml_post_is_an_input_error(tmp_path: Path, metadata: Path) -> None:
    har = json.dumps({"log": {"entries": [{"request": {"method": "GET", "url": ACS_URL}}]}})

    outcome = check_text(tmp_path, har, metadata)

    assert outcome.errors == {"input"}
    assert "no POST with a SAMLResponse" in outcome.finding("input")["message"]


def test_text_neither_base64_nor_xml_is_an_input_error(tmp_path: Path, metadata: Path) -> None:
    outcome = check_text(tmp_path, "this is not a SAML response!", metadata)

    assert outcome.errors == {"input"}
    assert outcome.exit_code == 1


def test_xml_declaring_a_dtd_is_refused_as_input(tmp_path: Path, metadata: Path) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>'
        b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&a;</samlp:Response>'
    )

    outcome = check_text(tmp_path, bomb, metadata)

    assert outcome.errors == {"input"}
    assert "DTD" in outcome.finding("input")["message"]


def test_xml_that_is_not_a_saml_response_is_an_input_error(tmp_path: Path, metadata: Path) -> None:
    outcome = check_text(tmp_path, "<html><body>Sign in</body></html>", metadata)

    assert outcome.errors == {"input"}


# --- signature ---------------------------------------------------------------------


def test_unsigned_response_is_a_signature_error(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    outcome = check(tmp_path, replace(GOOD, sign_assertion=False), keys, metadata)

    assert outcome.errors == {"signature"}
    assert "SAML Assertion signature is invalid" in outcome.finding("signature")["message"]


def test_only_the_response_signed_is_a_signature_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, sign_assertion=False, sign_response=True)

    assert check(tmp_path, spec, keys, metadata).errors == {"signature"}


def test_response_and_assertion_both_signed_is_accepted(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    outcome = check(tmp_path, replace(GOOD, sign_response=True), keys, metadata)

    assert outcome.report == {"accepted": True, "findings": []}


def test_assertion_signed_by_a_key_the_metadata_lacks_is_a_signature_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    response = build_response(GOOD, keys.stranger)

    outcome = check_text(tmp_path, to_base64(response), metadata)

    assert outcome.errors == {"signature"}
    assert "the metadata does not list" in outcome.finding("signature")["message"]


def test_assertion_changed_after_signing_is_a_signature_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    response = build_response(GOOD, keys.signer)
    for value in response.iter(f"{{{SAML}}}AttributeValue"):
        value.text = "mallory@contoso.com"

    outcome = check_text(tmp_path, to_base64(response), metadata)

    assert outcome.errors == {"signature"}


def test_sha1_signature_verifies_with_a_warning(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    spec = replace(GOOD, signature_method="http://www.w3.org/2000/09/xmldsig#rsa-sha1")

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.report["accepted"] is True
    assert outcome.warnings == {"signature"}


def test_forged_assertion_beside_the_signed_one_is_not_accepted(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    attack = wrapped_beside(build_response(GOOD, keys.signer), "mallory@evil.example")

    outcome = check_text(tmp_path, to_xml(attack), metadata)

    assert outcome.report["accepted"] is False
    assert outcome.errors == {"signature"}


def test_forged_assertion_taking_the_signed_ones_id_is_not_accepted(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    attack = wrapped_with_same_id(build_response(GOOD, keys.signer), "mallory@evil.example")

    outcome = check_text(tmp_path, to_xml(attack), metadata)

    assert outcome.report["accepted"] is False
    assert outcome.errors == {"signature"}


def test_forged_assertion_carrying_the_original_signature_is_not_accepted(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    attack = wrapped_with_moved_signature(build_response(GOOD, keys.signer), "mallory@evil.example")

    outcome = check_text(tmp_path, to_xml(attack), metadata)

    assert outcome.report["accepted"] is False
    assert outcome.errors == {"signature"}


# --- one bad value per category ----------------------------------------------------


def test_issuer_other_than_the_metadata_entity_id_is_an_issuer_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    other = "https://sts.windows.net/99999999-9999-4999-8999-999999999999/"

    outcome = check(tmp_path, replace(GOOD, issuer=other, response_issuer=other), keys, metadata)

    assert outcome.errors == {"issuer"}


def test_audience_of_another_pool_is_an_audience_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, audience="urn:amazon:cognito:sp:eu-west-1_Other")

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"audience"}
    assert f"urn:amazon:cognito:sp:{USER_POOL_ID}" in outcome.finding("audience")["fix"]


def test_recipient_of_another_domain_is_a_recipient_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(
        GOOD, recipient="https://old-prefix.auth.eu-west-1.amazoncognito.com/saml2/idpresponse"
    )

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"recipient"}
    assert "AADSTS50011" in outcome.finding("recipient")["fix"]


def test_destination_of_another_domain_is_a_destination_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(
        GOOD, destination="https://old-prefix.auth.eu-west-1.amazoncognito.com/saml2/idpresponse"
    )

    assert check(tmp_path, spec, keys, metadata).errors == {"destination"}


def test_expired_assertion_is_a_time_error(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    spec = replace(GOOD, issued=NOW - dt.timedelta(hours=2))

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"time"}
    assert "--now" in outcome.finding("time")["fix"]


def test_assertion_not_valid_yet_is_a_time_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, issued=NOW + dt.timedelta(minutes=20))

    assert check(tmp_path, spec, keys, metadata).errors == {"time"}


def test_assertion_expired_within_the_clock_skew_is_accepted(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, issued=NOW - dt.timedelta(hours=1, minutes=2))

    assert check(tmp_path, spec, keys, metadata).report["accepted"] is True


def test_zero_clock_skew_refuses_an_assertion_expired_a_minute_ago(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, issued=NOW - dt.timedelta(hours=1, minutes=1))

    assert check(tmp_path, spec, keys, metadata, "--clock-skew", "0").errors == {"time"}


def test_now_replays_an_old_capture_as_of_its_time(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    taken = NOW - dt.timedelta(days=3)
    spec = replace(GOOD, issued=taken)

    outcome = check(tmp_path, spec, keys, metadata, "--now", taken.isoformat())

    assert outcome.report["accepted"] is True


def test_entra_failure_status_surfaces_the_aadsts_code_and_fix(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(
        GOOD,
        status="urn:oasis:names:tc:SAML:2.0:status:Responder",
        sub_status="urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
        status_message="AADSTS50105: Your administrator has configured the application "
        "mobile-sso-example (mobile SSO) to block users unless they are specifically granted "
        "('assigned') access to the application.",
    )

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"status"}
    assert "AADSTS50105" in outcome.finding("status")["message"]
    assert "assign the user" in outcome.finding("status")["fix"]


def test_missing_nameid_is_a_nameid_error(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    assert check(tmp_path, replace(GOOD, name_id=None), keys, metadata).errors == {"nameid"}


def test_transient_nameid_is_accepted_with_a_warning(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient")

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.report["accepted"] is True
    assert outcome.warnings == {"nameid"}


def test_email_format_nameid_is_accepted_with_a_warning(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(
        GOOD,
        name_id="alice@contoso.com",
        name_id_format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    )

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.report["accepted"] is True
    assert outcome.warnings == {"nameid"}


def test_idp_initiated_response_is_an_in_response_to_error_by_default(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    outcome = check(tmp_path, replace(GOOD, in_response_to=None), keys, metadata)

    assert outcome.errors == {"in_response_to"}
    assert "IDPInit" in outcome.finding("in_response_to")["message"]


def test_idp_initiated_response_is_accepted_with_idp_initiated(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, in_response_to=None)

    outcome = check(tmp_path, spec, keys, metadata, "--idp-initiated")

    assert outcome.report == {"accepted": True, "findings": []}


def test_missing_email_claim_is_an_attributes_error_in_cognitos_words(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, attributes={NAME_CLAIM: ["alice@contoso.onmicrosoft.com"]})

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"attributes"}
    assert "Invalid user attributes: email" in outcome.finding("attributes")["message"]


def test_empty_email_claim_is_an_attributes_error_pointing_at_the_upn(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(GOOD, attributes={EMAIL_CLAIM: [""], NAME_CLAIM: ["alice@contoso.com"]})

    outcome = check(tmp_path, spec, keys, metadata)

    assert outcome.errors == {"attributes"}
    assert "user.userprincipalname" in outcome.finding("attributes")["fix"]


def test_required_attribute_option_adds_a_claim_to_check(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    groups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"

    outcome = check(tmp_path, GOOD, keys, metadata, "--required-attribute", groups)

    assert outcome.errors == {"attributes"}
    assert groups in outcome.finding("attributes")["message"]


# --- metadata ----------------------------------------------------------------------


def test_real_entra_metadata_is_reported_expired(tmp_path: Path, keys: Keys) -> None:
    outcome = check(tmp_path, GOOD, keys, ENTRA_METADATA)

    assert "metadata" in outcome.errors
    assert "expired on 2026-02-14" in outcome.finding("metadata")["message"]


def test_expired_signing_certificate_is_a_metadata_error(tmp_path: Path, keys: Keys) -> None:
    expired = make_signer(keys.signer.key, not_after=NOW - dt.timedelta(days=1))
    stale = tmp_path / "stale.xml"
    stale.write_bytes(metadata_xml([expired.cert]))

    outcome = check_text(tmp_path, to_base64(build_response(GOOD, expired)), stale)

    assert outcome.errors == {"metadata"}


def test_certificate_expiring_within_30_days_is_a_warning(tmp_path: Path, keys: Keys) -> None:
    expiring = make_signer(keys.signer.key, not_after=NOW + dt.timedelta(days=10))
    soon = tmp_path / "soon.xml"
    soon.write_bytes(metadata_xml([expiring.cert]))

    outcome = check_text(tmp_path, to_base64(build_response(GOOD, expiring)), soon)

    assert outcome.report["accepted"] is True
    assert outcome.warnings == {"metadata"}


def test_metadata_without_signing_certificate_is_a_metadata_error(
    tmp_path: Path, keys: Keys
) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_bytes(metadata_xml([]))

    outcome = check(tmp_path, GOOD, keys, empty)

    assert "metadata" in outcome.errors
    assert outcome.report["accepted"] is False


def test_html_page_as_metadata_is_a_metadata_error(tmp_path: Path, keys: Keys) -> None:
    page = tmp_path / "page.xml"
    page.write_text("<html><body>AADSTS700016</body></html>")

    outcome = check(tmp_path, GOOD, keys, page)

    assert "metadata" in outcome.errors
    assert "EntityDescriptor" in outcome.finding("metadata")["message"]


class _MetadataServer(http.server.BaseHTTPRequestHandler):
    document = b""

    def do_GET(self) -> None:
        if self.path != "/federationmetadata.xml":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.document)))
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metadata_url(metadata: Path) -> Iterator[str]:
    handler = type("Handler", (_MetadataServer,), {"document": metadata.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/federationmetadata.xml"
    finally:
        server.shutdown()
        server.server_close()


def test_metadata_url_is_fetched(tmp_path: Path, keys: Keys, metadata_url: str) -> None:
    response = to_base64(build_response(GOOD, keys.signer))

    outcome = check_text(tmp_path, response, metadata_url)

    assert outcome.report == {"accepted": True, "findings": []}


def test_metadata_url_answering_404_is_a_metadata_error(
    tmp_path: Path, keys: Keys, metadata_url: str
) -> None:
    missing = metadata_url.replace("federationmetadata.xml", "gone.xml")

    outcome = check_text(tmp_path, to_base64(build_response(GOOD, keys.signer)), missing)

    assert "metadata" in outcome.errors
    assert "HTTP 404" in outcome.finding("metadata")["message"]


# --- expectations from the environment ---------------------------------------------


def outputs_file(tmp_path: Path, metadata_url: str = "") -> Path:
    path = tmp_path / "cdk-outputs-example.json"
    stack = {"UserPoolId": USER_POOL_ID, "CognitoDomain": DOMAIN}
    if metadata_url:
        stack["IdpEntraIDMetadataUrl"] = metadata_url
    path.write_text(json.dumps({"MobileSso-Example": stack}))
    return path


def test_env_reads_pool_id_and_domain_from_the_deploy_outputs(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text(to_base64(build_response(GOOD, keys.signer)))
    args = ["--env", "example", "--outputs-file", str(outputs_file(tmp_path))]

    result = invoke(
        [str(capture), "--json", *args, "--metadata", str(metadata), "--now", NOW.isoformat()]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"accepted": True, "findings": []}


def test_env_takes_the_metadata_url_from_the_deploy_outputs(
    tmp_path: Path, keys: Keys, metadata_url: str
) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text(to_base64(build_response(GOOD, keys.signer)))
    args = ["--env", "example", "--outputs-file", str(outputs_file(tmp_path, metadata_url))]

    result = invoke([str(capture), "--json", *args, "--now", NOW.isoformat()])

    assert result.exit_code == 0, result.output


def test_env_judges_a_response_for_another_pool_as_audience_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    capture = tmp_path / "capture.txt"
    spec = replace(GOOD, audience="urn:amazon:cognito:sp:eu-west-1_Other")
    capture.write_text(to_base64(build_response(spec, keys.signer)))
    args = ["--env", "example", "--outputs-file", str(outputs_file(tmp_path))]

    result = invoke(
        [str(capture), "--json", *args, "--metadata", str(metadata), "--now", NOW.isoformat()]
    )

    assert result.exit_code == 1
    assert [f["category"] for f in json.loads(result.stdout)["findings"]] == ["audience"]


# --- usage -------------------------------------------------------------------------


def test_without_pool_id_domain_or_env_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), "--metadata", str(metadata)])

    assert result.exit_code == 2
    assert "--user-pool-id" in result.output


def test_unreadable_now_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), *expectation_args(metadata), "--now", "yesterday"])

    assert result.exit_code == 2


def test_env_without_an_outputs_file_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")
    missing = tmp_path / "cdk-outputs-example.json"

    result = invoke(
        [str(capture), "--env", "example", "--outputs-file", str(missing), "--metadata", "m.xml"]
    )

    assert result.exit_code == 2
    assert "make deploy ENV=example" in result.output


def test_missing_response_file_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    result = invoke([str(tmp_path / "none.txt"), *expectation_args(metadata)])

    assert result.exit_code == 2


def test_base64_of_the_fixture_metadata_is_not_mistaken_for_a_response(
    tmp_path: Path, metadata: Path
) -> None:
    encoded = base64.b64encode(ENTRA_METADATA.read_bytes()).decode()

    outcome = check_text(tmp_path, encoded, metadata)

    assert outcome.errors == {"input"}
    assert "EntityDescriptor" in outcome.finding("input")["message"]


def test_factory_builds_a_saml_response_with_one_assertion(keys: Keys) -> None:
    # Guards the factory itself: what the tests sign is a samlp:Response with one assertion.
    root = etree.fromstring(to_xml(build_response(GOOD, keys.signer)))

    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:protocol}Response"
    assert len(root.findall(f"{{{SAML}}}Assertion")) == 1
    assert ISSUER in etree.tostring(root).decode()


def test_form_body_with_saml_response_and_relay_state_is_read(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    field_value = quote(to_base64(build_response(GOOD, keys.signer)), safe="")
    body = f"SAMLResponse={field_value}&RelayState=abc"

    assert check_text(tmp_path, body, metadata).report["accepted"] is True


def test_env_with_several_tenants_needs_idp(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), "--env", "example-multitenant", "--metadata", str(metadata)])

    assert result.exit_code == 2
    assert "--idp" in result.output


# --- hostile input: findings and documented exit codes, never a traceback ---------------


def judge(tmp_path: Path, data: bytes, metadata: Path | str, *extra: str) -> Outcome:
    """The command on `data` with --json: any documented verdict, always the JSON document."""
    capture = tmp_path / "capture.bin"
    capture.write_bytes(data)
    result = invoke([str(capture), "--json", *expectation_args(metadata), *extra])
    assert result.exit_code in (0, 1, 3), result.output
    return Outcome(result.exit_code, json.loads(result.stdout))


def test_empty_signature_value_is_a_signature_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    response = build_response(GOOD, keys.signer)
    value = response.find(f".//{{{DS}}}SignatureValue")
    assert value is not None
    value.text = None

    outcome = judge(tmp_path, to_xml(response), metadata)

    assert outcome.exit_code == 1
    assert outcome.errors == {"signature"}


def test_signed_info_outside_the_xmldsig_schema_is_a_signature_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    response = build_response(GOOD, keys.signer)
    signed_info = response.find(f".//{{{DS}}}SignedInfo")
    assert signed_info is not None
    signed_info.remove(signed_info[0])  # CanonicalizationMethod

    outcome = judge(tmp_path, to_xml(response), metadata)

    assert outcome.exit_code == 1
    assert outcome.errors == {"signature"}


def test_har_nested_too_deeply_is_an_input_error(tmp_path: Path, metadata: Path) -> None:
    har = b'{"log": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    outcome = judge(tmp_path, har, metadata)

    assert outcome.exit_code == 1
    assert "nested too deeply" in outcome.finding("input")["message"]


def test_har_whose_params_is_a_number_is_read_from_the_posted_text(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    har = json.loads(to_har(build_response(GOOD, keys.signer)))
    har["log"]["entries"][1]["request"]["postData"]["params"] = 5

    outcome = judge(tmp_path, json.dumps(har).encode(), metadata)

    assert outcome.report == {"accepted": True, "findings": []}


def test_metadata_certificate_with_an_unreadable_subject_is_a_metadata_error(
    tmp_path: Path, keys: Keys
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(metadata_xml([with_unreadable_subject(keys.signer.cert)]))

    outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), broken)

    assert outcome.exit_code == 1
    assert "cannot be read" in outcome.finding("metadata")["message"]


def test_signed_time_in_year_1_ahead_of_utc_is_a_time_error(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    def year_1(assertion: etree._Element) -> None:
        conditions = assertion.find(f"{{{SAML}}}Conditions")
        assert conditions is not None
        conditions.set("NotOnOrAfter", "0001-01-01T00:00:00+01:00")

    outcome = judge(tmp_path, to_xml(signed_with(GOOD, keys.signer, year_1)), metadata)

    assert outcome.exit_code == 1
    assert "outside the years 1 to 9999" in outcome.finding("time")["message"]


def test_now_beyond_year_9999_in_utc_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), *expectation_args(metadata), "--now", "9999-12-31T23:00-05:00"])

    assert result.exit_code == 2
    assert "outside the years 1 to 9999" in result.output


def test_a_failing_check_is_an_internal_finding_with_exit_3_and_the_json_document(
    tmp_path: Path, keys: Keys, metadata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> list[object]:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(saml_check, "_nameid_findings", broken)

    outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), metadata)

    assert outcome.exit_code == 3
    assert outcome.report["accepted"] is False
    assert [f["category"] for f in outcome.report["findings"]] == ["internal"]
    assert "RuntimeError: a bug in a check" in outcome.finding("internal")["message"]


def test_a_failure_outside_the_checks_is_exit_3_without_a_traceback(
    tmp_path: Path, metadata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> object:
        raise MemoryError

    monkeypatch.setattr(check_response_module, "check_response", broken)
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), *expectation_args(metadata)])

    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "Could not judge this response" in result.stdout


# --- the trust anchor: metadata over https, no redirect to another scheme or host -------


class _RedirectingServer(_MetadataServer):
    location = ""

    def do_GET(self) -> None:
        if self.path != "/moved":
            super().do_GET()
            return
        self.send_response(302)
        assert isinstance(self.server, http.server.HTTPServer)
        port = self.server.server_address[1]
        self.send_header("Location", self.location.replace("PORT", str(port)))
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextlib.contextmanager
def redirecting_server(document: bytes, location: str) -> Iterator[str]:
    """A loopback server: /federationmetadata.xml answers `document`, /moved redirects to
    `location` (PORT replaced by the server's port)."""
    handler = type("Handler", (_RedirectingServer,), {"document": document, "location": location})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/moved"
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_metadata_url_off_loopback_is_a_usage_error(tmp_path: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), *expectation_args("http://login.example.com/metadata.xml")])

    assert result.exit_code == 2
    assert "is not https" in result.output


def test_fetch_metadata_refuses_plain_http_off_loopback() -> None:
    fetched = fetch_metadata("http://login.microsoftonline.com/t/federationmetadata.xml")

    assert isinstance(fetched, UnreadableMetadata)
    assert "is not https" in fetched.reason


def test_metadata_redirect_within_the_same_host_is_followed(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    location = "http://127.0.0.1:PORT/federationmetadata.xml"
    with redirecting_server(metadata.read_bytes(), location) as url:
        outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), url)

    assert outcome.report == {"accepted": True, "findings": []}


def test_metadata_redirect_to_another_host_is_not_followed(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    location = "http://localhost:PORT/federationmetadata.xml"
    with redirecting_server(metadata.read_bytes(), location) as url:
        outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), url)

    assert outcome.report["accepted"] is False
    assert "another scheme or host" in outcome.finding("metadata")["message"]


def test_metadata_redirect_from_https_to_http_is_not_followed() -> None:
    request = urllib.request.Request("https://login.example.com/federationmetadata.xml")
    redirects = check_response_module._SameOriginRedirects()

    with pytest.raises(urllib.error.URLError, match="another scheme or host"):
        redirects.redirect_request(
            request,
            io.BytesIO(),
            302,
            "Found",
            http.client.HTTPMessage(),
            "http://login.example.com/federationmetadata.xml",
        )


# --- HAR files: the POST Cognito received ------------------------------------------------


def test_har_judges_the_post_to_idpresponse_over_a_later_post_elsewhere(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    har = json.loads(to_har(build_response(GOOD, keys.signer)))
    elsewhere = replace(GOOD, audience="urn:other-site")
    later = json.loads(to_har(build_response(elsewhere, keys.signer), "https://other.example/acs"))
    har["log"]["entries"] += later["log"]["entries"]

    outcome = judge(tmp_path, json.dumps(har).encode(), metadata)

    assert outcome.report == {"accepted": True, "findings": []}


def test_har_judges_the_pools_idpresponse_over_another_pools(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    har = json.loads(to_har(build_response(GOOD, keys.signer)))
    other_pool = "https://other.auth.eu-west-1.amazoncognito.com/saml2/idpresponse"
    later = json.loads(
        to_har(build_response(replace(GOOD, audience="urn:x"), keys.signer), other_pool)
    )
    har["log"]["entries"] += later["log"]["entries"]

    outcome = judge(tmp_path, json.dumps(har).encode(), metadata)

    assert outcome.report == {"accepted": True, "findings": []}


def test_har_with_a_saml_post_only_elsewhere_is_judged_with_an_input_warning(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    har = to_har(build_response(GOOD, keys.signer), "https://other.example/acs")

    outcome = judge(tmp_path, har.encode(), metadata)

    assert outcome.warnings == {"input"}
    assert "'https://other.example/acs'" in outcome.finding("input")["message"]


# --- size: limits applied while reading ---------------------------------------------------


class CountingZeros(io.RawIOBase):
    """`size` zero bytes, counting how many were handed out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.handed_out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.handed_out)
        buffer[:count] = bytes(count)
        self.handed_out += count
        return count


def test_a_response_file_of_80_mb_is_refused_as_larger_than_the_capture_limit(
    tmp_path: Path, metadata: Path
) -> None:
    huge = tmp_path / "huge.har"
    with huge.open("wb") as sparse:
        sparse.truncate(80_000_000)

    result = invoke([str(huge), "--json", *expectation_args(metadata)])

    assert result.exit_code == 1
    message = json.loads(result.stdout)["findings"][0]["message"]
    assert f"larger than {MAX_CAPTURE_BYTES} bytes" in message


def test_standard_input_is_read_no_further_than_the_capture_limit(
    metadata: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = CountingZeros(80_000_000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(source)))

    with pytest.raises(typer.Exit) as exit_:
        check_response_command(
            Path("-"),
            metadata=str(metadata),
            user_pool_id=USER_POOL_ID,
            domain=DOMAIN,
            now=NOW.isoformat(),
            as_json=True,
        )

    assert exit_.value.exit_code == 1
    assert source.handed_out <= MAX_CAPTURE_BYTES + 1 + io.DEFAULT_BUFFER_SIZE
    assert f"larger than {MAX_CAPTURE_BYTES} bytes" in capsys.readouterr().out


def test_a_metadata_file_of_80_mb_is_read_no_further_than_the_document_limit(
    tmp_path: Path, keys: Keys
) -> None:
    huge = tmp_path / "huge.xml"
    with huge.open("wb") as sparse:
        sparse.truncate(80_000_000)

    outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), huge)

    assert f"larger than {MAX_DOCUMENT_BYTES} bytes" in outcome.finding("metadata")["message"]


def test_read_limited_stops_one_byte_past_the_limit() -> None:
    source = CountingZeros(80_000_000)

    read = read_limited(io.BufferedReader(source), 1_000)

    assert len(read) == 1_001
    assert source.handed_out <= 1_001 + io.DEFAULT_BUFFER_SIZE


# --- encodings -----------------------------------------------------------------------------


def test_xml_saved_as_utf16_with_a_bom_is_read(tmp_path: Path, keys: Keys, metadata: Path) -> None:
    xml = etree.tostring(build_response(GOOD, keys.signer), encoding="UTF-16")
    assert isinstance(xml, bytes)
    assert xml.startswith(b"\xff\xfe")

    assert judge(tmp_path, xml, metadata).report == {"accepted": True, "findings": []}


def test_base64_saved_as_utf16_with_a_bom_is_read(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    saved = ("\ufeff" + to_base64(build_response(GOOD, keys.signer))).encode("utf-16-le")

    assert judge(tmp_path, saved, metadata).report == {"accepted": True, "findings": []}


# --- printing what the input says ----------------------------------------------------------


def test_control_characters_from_the_input_are_shown_escaped_in_the_table(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    spec = replace(
        GOOD,
        status="urn:oasis:names:tc:SAML:2.0:status:Responder",
        status_message="AADSTS50105 \u202eowned\u202c \x9b2J",
    )
    capture = tmp_path / "capture.txt"
    capture.write_text(to_base64(build_response(spec, keys.signer)))

    result = invoke([str(capture), *expectation_args(metadata)])

    assert result.exit_code == 1
    assert "\u202e" not in result.stdout
    assert "\x9b" not in result.stdout
    assert "\\u202eowned\\u202c \\x9b2J" in result.stdout


def test_domain_that_is_not_a_url_is_a_usage_error(tmp_path: Path, metadata: Path) -> None:
    capture = tmp_path / "capture.txt"
    capture.write_text("x")

    result = invoke([str(capture), *expectation_args(metadata), "--domain", "https://[myapp"])

    assert result.exit_code == 2
    assert "is not a host name" in result.output


def test_metadata_declaring_a_dtd_is_a_metadata_error(tmp_path: Path, keys: Keys) -> None:
    laughs = tmp_path / "laughs.xml"
    laughs.write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">&b;</EntityDescriptor>'
    )

    outcome = judge(tmp_path, to_xml(build_response(GOOD, keys.signer)), laughs)

    assert outcome.exit_code == 1
    assert "declares a DTD" in outcome.finding("metadata")["message"]


def test_saml_response_over_100000_characters_is_an_input_error_in_cognitos_limit(
    tmp_path: Path, keys: Keys, metadata: Path
) -> None:
    groups = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
    many = {
        **GOOD.attributes,
        groups: [f"{n:08d}-0000-4000-8000-000000000000" for n in range(2000)],
    }
    posted = to_base64(build_response(replace(GOOD, attributes=many), keys.signer))
    assert 100_000 < len(posted) < 1_000_000

    outcome = judge(tmp_path, posted.encode(), metadata)

    assert outcome.errors == {"input"}
    assert "accepts at most 100000" in outcome.finding("input")["message"]
