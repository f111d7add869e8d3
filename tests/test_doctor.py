"""`mobile-sso doctor` against the example deployment in moto and the Entra emulator
(tests/doctor_deployment.py): each test breaks one thing and expects exactly the finding
that names it. moto accepts values real Cognito refuses, so the doctor judges against the
config, never against what moto took.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
import yaml

from mobile_sso.cli import app
from mobile_sso.config import ENTRA_EMAIL_CLAIM
from mobile_sso.doctor_checks import CATEGORIES
from mobile_sso.entra_graph import CLOUDS
from tests.conftest import example_data
from tests.doctor_deployment import (
    CONFIG,
    FIXTURE_METADATA,
    FIXTURE_TENANT,
    HOST,
    IDP,
    PREFIX,
    REGION,
    REPLY_URL,
    TENANT,
    Deployment,
    doctor,
    runner,
)


def config_file(tmp_path: Path, **tenant_changes: Any) -> Path:
    """config/example.yaml with some keys of its Entra tenant changed."""
    data = example_data()
    data["entra"][0].update(tenant_changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- a healthy deployment ----------------------------------------------------------------


def test_healthy_deployment_exits_0_without_findings(deployment: Deployment) -> None:
    outcome = doctor(deployment)

    assert outcome.exit_code == 0
    assert outcome.report["healthy"] is True
    assert outcome.report["findings"] == []


def test_json_has_the_verdict_findings_and_sign_in_urls(deployment: Deployment) -> None:
    deployment.update_client("ios", SupportedIdentityProviders=[])

    outcome = doctor(deployment)

    assert set(outcome.report) == {"healthy", "findings", "sign_in_urls"}
    assert [set(f) for f in outcome.report["findings"]] == [
        {"category", "severity", "message", "fix"}
    ]


def test_sign_in_url_goes_straight_to_the_idp_with_the_clients_settings(
    deployment: Deployment,
) -> None:
    urls = doctor(deployment).report["sign_in_urls"]

    ios = next(u for u in urls if u["client"] == "ios")
    parts = urlsplit(ios["url"])
    assert (parts.scheme, parts.netloc, parts.path) == ("https", HOST, "/oauth2/authorize")
    assert parse_qs(parts.query) == {
        "identity_provider": [IDP],
        "client_id": [deployment.client_ids["ios"]],
        "response_type": ["code"],
        "scope": ["openid email profile"],
        "redirect_uri": ["com.example.mobilesso://callback"],
    }
    assert [(u["client"], u["identity_provider"]) for u in urls] == [
        ("ios", IDP),
        ("android", IDP),
    ]


def test_client_option_prints_only_that_clients_sign_in_url(deployment: Deployment) -> None:
    urls = doctor(deployment, "--client", "android").report["sign_in_urls"]

    assert [u["client"] for u in urls] == ["android"]


def test_human_output_of_a_healthy_deployment_lists_who_is_assigned_and_the_url(
    deployment: Deployment,
) -> None:
    args = ["--env", "example", "--outputs-file", str(deployment.outputs_file)]
    result = runner.invoke(app, ["doctor", *args])

    assert result.exit_code == 0, result.output
    assert f"{CONFIG.stack_name} is healthy." in result.stdout
    assert "assignment required; assigned: Ada Lovelace (User)" in " ".join(result.stdout.split())
    url_lines = [line for line in result.stdout.splitlines() if "/oauth2/authorize?" in line]
    assert len(url_lines) == 2
    assert all(line.startswith(f"https://{HOST}/") for line in url_lines)  # never wrapped
    assert "\x1b[" not in result.stdout


def test_human_output_of_problems_is_a_table_and_a_verdict_without_colour(
    deployment: Deployment,
) -> None:
    deployment.update_client("ios", SupportedIdentityProviders=[])
    args = ["--env", "example", "--outputs-file", str(deployment.outputs_file)]

    result = runner.invoke(app, ["doctor", *args])

    assert result.exit_code == 1
    assert "Category" in result.stdout
    assert f"{CONFIG.stack_name} has problems: 1 error(s), 0 warning(s)." in result.stdout
    assert "\x1b[" not in result.stdout


def test_without_user_read_permission_the_mail_check_is_a_note(deployment: Deployment) -> None:
    outcome = doctor(deployment)

    assert outcome.report["findings"] == []
    assert "the mail of users assigned in EntraID was not checked" in outcome.stderr
    assert "User.Read.All" in outcome.stderr


# --- Entra application -------------------------------------------------------------------


def test_reply_url_differing_from_cognitos_is_an_error_naming_aadsts50011(
    deployment: Deployment,
) -> None:
    deployment.graph(
        "PATCH",
        f"/applications/{deployment.app_object_id}",
        {"web": {"redirectUris": ["https://old.example.com/saml2/idpresponse"]}},
    )

    outcome = doctor(deployment)

    assert outcome.exit_code == 1
    assert outcome.findings == [("entra_app", "error")]
    assert "AADSTS50011" in outcome.message("entra_app")
    assert f"Reply URL: {REPLY_URL}" in outcome.fix("entra_app")


def test_identifier_differing_from_cognitos_is_an_error_naming_aadsts700016(
    deployment: Deployment,
) -> None:
    deployment.graph(
        "PATCH",
        f"/applications/{deployment.app_object_id}",
        {"identifierUris": ["urn:amazon:cognito:sp:eu-west-1_Old"]},
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("entra_app", "error")]
    assert "AADSTS700016" in outcome.message("entra_app")
    assert f"urn:amazon:cognito:sp:{deployment.pool_id}" in outcome.fix("entra_app")


def test_saml_mode_off_is_an_entra_app_error(deployment: Deployment) -> None:
    deployment.graph(
        "PATCH", f"/servicePrincipals/{deployment.sp_id}", {"preferredSingleSignOnMode": None}
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("entra_app", "error")]
    assert "not SAML" in outcome.message("entra_app")


def test_deployer_secret_that_entra_refuses_is_an_entra_app_error(
    deployment: Deployment,
) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=TENANT.credentials_secret,
        SecretString=json.dumps(
            {
                "tenantId": TENANT.tenant_id,
                "clientId": deployment.entra.client_id,
                "clientSecret": "wrong",
            }
        ),
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("entra_app", "error")]
    assert "could not get a Microsoft Graph token" in outcome.message("entra_app")


def test_deployer_secret_of_another_tenant_is_an_entra_app_error(deployment: Deployment) -> None:
    other = "11111111-1111-1111-1111-111111111111"
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=TENANT.credentials_secret,
        SecretString=json.dumps(
            {"tenantId": other, "clientId": deployment.entra.client_id, "clientSecret": "x"}
        ),
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("entra_app", "error")]
    assert f"credentials for tenant {other}" in outcome.message("entra_app")


def test_skip_entra_makes_no_graph_call_and_still_checks_the_metadata(
    deployment: Deployment,
) -> None:
    deployment.entra.clear_requests()

    outcome = doctor(deployment, "--skip-entra")

    assert outcome.report["findings"] == []
    assert deployment.entra.requests("graph") == []
    fetched = [r.path for r in deployment.entra.requests("authority")]
    assert fetched == [f"/{TENANT.tenant_id}/federationmetadata/2007-06/federationmetadata.xml"]


# --- assignments and claims --------------------------------------------------------------


def test_assignment_required_with_nobody_assigned_warns_of_aadsts50105(
    deployment: Deployment,
) -> None:
    (assigned,) = deployment.entra.assignments(deployment.sp_id)
    deployment.graph(
        "DELETE", f"/servicePrincipals/{deployment.sp_id}/appRoleAssignedTo/{assigned['id']}"
    )

    outcome = doctor(deployment)

    assert outcome.exit_code == 0
    assert outcome.findings == [("assignment", "warning")]
    assert "AADSTS50105" in outcome.message("assignment")


def test_user_listed_in_the_config_but_not_assigned_is_an_aadsts50105_error(
    deployment: Deployment,
) -> None:
    listed = deployment.entra.add_user("Grace Hopper")
    config = config_file(deployment.tmp, assignments={"users": [listed], "groups": []})

    outcome = doctor(deployment, "--config", str(config))

    assert outcome.findings == [("assignment", "error")]
    assert listed in outcome.message("assignment")
    assert "AADSTS50105" in outcome.message("assignment")


def test_assigned_user_without_mail_warns_of_invalid_user_attributes_email(
    deployment: Deployment,
) -> None:
    deployment.entra.set_roles(
        ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "User.Read.All"]
    )
    deployment.assign(deployment.entra.add_user("No Mailbox", has_mail=False))

    outcome = doctor(deployment)

    assert outcome.findings == [("claims", "warning")]
    assert "'No Mailbox'" in outcome.message("claims")
    assert "Invalid user attributes: email" in outcome.message("claims")


def test_email_not_mapped_is_a_claims_error_naming_invalid_user_attributes(
    deployment: Deployment,
) -> None:
    deployment.replace_idp(
        AttributeMapping={"name": "http://schemas.microsoft.com/identity/claims/displayname"}
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("claims", "error")]
    assert "Invalid user attributes: email: The attribute is required" in outcome.message("claims")
    assert ENTRA_EMAIL_CLAIM in outcome.fix("claims")


# --- identity provider and metadata ------------------------------------------------------


def test_identity_provider_missing_from_the_pool_is_an_idp_error(deployment: Deployment) -> None:
    deployment.cognito.delete_identity_provider(UserPoolId=deployment.pool_id, ProviderName=IDP)

    outcome = doctor(deployment)

    assert outcome.findings == [("idp", "error")]
    assert f"no identity provider '{IDP}'" in outcome.message("idp")


def test_idp_initiated_sign_in_off_in_cognito_but_on_in_the_config_names_the_relay_state_error(
    deployment: Deployment,
) -> None:
    config = config_file(deployment.tmp, idp_initiated=True, idp_initiated_client="ios")

    outcome = doctor(deployment, "--config", str(config))

    assert outcome.findings == [("idp", "error")]
    assert "Invalid samlResponse or relayState from identity provider" in outcome.message("idp")


def test_metadata_serving_another_certificate_than_the_active_one_is_an_error(
    deployment: Deployment,
) -> None:
    deployment.entra.metadata_lag(fetches=5)  # keeps serving the previous certificate
    rotated = deployment.graph(
        "POST",
        f"/servicePrincipals/{deployment.sp_id}/addTokenSigningCertificate",
        {"displayName": "CN=Microsoft Azure Federated SSO Certificate"},
    )
    deployment.graph(
        "PATCH",
        f"/servicePrincipals/{deployment.sp_id}",
        {"preferredTokenSigningKeyThumbprint": rotated["thumbprint"]},
    )

    outcome = doctor(deployment)

    assert outcome.findings == [("metadata", "error")]
    assert f"Entra signs with the certificate {rotated['thumbprint']}" in outcome.message(
        "metadata"
    )
    assert "SAML Assertion signature is invalid" in outcome.message("metadata")


def test_metadata_url_answering_an_error_is_a_metadata_error(deployment: Deployment) -> None:
    deployment.entra.fail_next("GET", "federationmetadata", 503, "temporarily_unavailable")

    outcome = doctor(deployment)

    assert outcome.findings == [("metadata", "error")]
    assert "HTTP 503" in outcome.message("metadata")


class _FixtureMetadata(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        document = FIXTURE_METADATA.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(document)))
        self.end_headers()
        self.wfile.write(document)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def real_metadata(deployment: Deployment) -> Iterator[Path]:
    """Cognito's IdP reads Entra's real metadata fixture (of another tenant, whose
    certificate expired on 2026-02-14); returns a config of that tenant."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FixtureMetadata)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = (
        f"http://127.0.0.1:{server.server_address[1]}/{FIXTURE_TENANT}/federationmetadata/"
        f"2007-06/federationmetadata.xml?appid={deployment.app_id}"
    )
    deployment.replace_idp(ProviderDetails={"MetadataURL": url})
    deployment.outputs |= {f"Idp{IDP}MetadataUrl": url, f"Idp{IDP}TenantId": FIXTURE_TENANT}
    try:
        yield config_file(deployment.tmp, tenant_id=FIXTURE_TENANT)
    finally:
        server.shutdown()
        server.server_close()


def test_metadata_certificate_expiring_within_30_days_is_a_warning(
    deployment: Deployment, real_metadata: Path
) -> None:
    args = ["--config", str(real_metadata), "--skip-entra", "--now", "2026-02-01T00:00:00Z"]

    outcome = doctor(deployment, *args)

    assert outcome.exit_code == 0
    assert outcome.findings == [("metadata", "warning")]
    assert "expires on 2026-02-14, in 13 days" in outcome.message("metadata")
    assert "SAML Assertion signature is invalid" in outcome.message("metadata")


def test_expired_metadata_certificate_is_an_error_naming_the_signature_error(
    deployment: Deployment, real_metadata: Path
) -> None:
    outcome = doctor(deployment, "--config", str(real_metadata), "--skip-entra")

    assert outcome.exit_code == 1
    assert outcome.findings == [("metadata", "error")]
    assert "expired on 2026-02-14" in outcome.message("metadata")
    assert "SAML Assertion signature is invalid" in outcome.message("metadata")


# --- app clients, pool, domain -----------------------------------------------------------


def test_client_missing_the_idp_is_a_client_error(deployment: Deployment) -> None:
    deployment.update_client("android", SupportedIdentityProviders=["COGNITO"])

    outcome = doctor(deployment)

    assert outcome.findings == [("client", "error"), ("client", "warning")]
    errors = [f for f in outcome.report["findings"] if f["severity"] == "error"]
    assert "'android'" in errors[0]["message"]
    assert f"does not offer the identity provider '{IDP}'" in errors[0]["message"]


def test_callback_url_differing_from_the_config_is_a_redirect_mismatch_error(
    deployment: Deployment,
) -> None:
    deployment.update_client("ios", CallbackURLs=["com.example.other://callback"])

    outcome = doctor(deployment)

    assert outcome.findings == [("client", "error"), ("client", "warning")]
    error, warning = outcome.report["findings"]
    assert "com.example.mobilesso://callback" in error["message"]
    assert "redirect_mismatch" in error["message"]
    assert "com.example.other://callback" in warning["message"]


def test_client_id_unknown_to_the_pool_is_a_client_error(deployment: Deployment) -> None:
    deployment.outputs["ClientIosId"] = "1example23456789abcdefghij"

    outcome = doctor(deployment)

    assert outcome.findings == [("client", "error")]
    assert "does not exist" in outcome.message("client")


def test_pool_that_no_longer_exists_is_a_pool_error_and_stops_the_aws_checks(
    deployment: Deployment,
) -> None:
    deployment.outputs["UserPoolId"] = "eu-west-1_Gone12345"

    outcome = doctor(deployment, "--skip-entra")

    assert outcome.findings == [("pool", "error")]
    assert "stale" in outcome.message("pool")


def test_missing_domain_is_a_domain_error(deployment: Deployment) -> None:
    deployment.cognito.delete_user_pool_domain(Domain=PREFIX, UserPoolId=deployment.pool_id)

    outcome = doctor(deployment)

    assert outcome.findings == [("domain", "error")]
    assert f"https://{HOST} has no site" in outcome.message("domain")


# --- inputs and usage --------------------------------------------------------------------


def test_outputs_come_from_cloudformation_without_an_outputs_file(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in deployment.outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=CONFIG.stack_name, TemplateBody=json.dumps(template)
    )
    monkeypatch.chdir(deployment.tmp.parent)  # no cdk-outputs-example.json here

    result = runner.invoke(app, ["doctor", "--env", "example", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["healthy"] is True


def test_stack_missing_from_cloudformation_is_an_outputs_error(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(deployment.tmp.parent)

    result = runner.invoke(app, ["doctor", "--env", "example", "--json"])

    assert result.exit_code == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["category"] == "outputs"
    assert "does not exist" in finding["message"]


def test_unknown_environment_is_bad_usage() -> None:
    result = runner.invoke(app, ["doctor", "--env", "nowhere"])

    assert result.exit_code == 2
    assert "no such environment file" in result.output


def test_unknown_client_is_bad_usage() -> None:
    result = runner.invoke(app, ["doctor", "--env", "example", "--client", "watch"])

    assert result.exit_code == 2
    assert "ios, android" in result.output


def test_unreadable_outputs_file_is_bad_usage(tmp_path: Path) -> None:
    missing = tmp_path / "cdk-outputs-example.json"

    result = runner.invoke(app, ["doctor", "--env", "example", "--outputs-file", str(missing)])

    assert result.exit_code == 2
    assert "cannot read the file" in result.output


def test_help_shows_examples_and_every_category() -> None:
    result = runner.invoke(app, ["doctor", "--help"])

    assert result.exit_code == 0
    assert "mobile-sso doctor --env prod --skip-entra --json" in result.output
    assert all(category in result.output for category in CATEGORIES)


def test_cloud_endpoints_are_the_custom_resources() -> None:
    from sso_constructs.entra_saml_application import CLOUD_ENDPOINTS  # noqa: PLC0415

    assert {cloud.value: (e.graph, e.login) for cloud, e in CLOUD_ENDPOINTS.items()} == {
        name: (c.graph, c.login) for name, c in CLOUDS.items()
    }


def test_now_that_is_not_a_time_is_bad_usage(deployment: Deployment) -> None:
    args = ["--env", "example", "--outputs-file", str(deployment.outputs_file)]

    result = runner.invoke(app, ["doctor", *args, "--now", "tomorrow"])

    assert result.exit_code == 2
