"""`mobile-sso bootstrap-entra` against the Entra emulator (Graph, as a signed-in admin) and
moto (Secrets Manager).

The admin signs in with Azure CLI: a stand-in `az` on PATH answers `az account
get-access-token` with a delegated token the emulator issued, so the real
`AzureCliCredential` runs. Each test checks one behaviour through the emulator's request log,
its directory and moto's secret versions.
"""

from __future__ import annotations

import base64
import json
import logging
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
import yaml
from azure.core.credentials import AccessToken
from cryptography import x509
from entra_saml_app.credentials import parse_credentials
from moto import mock_aws
from typer.testing import CliRunner

from mobile_sso import bootstrap_entra, outputs
from mobile_sso.cli import app
from mobile_sso.config import load_config
from mobile_sso.entra_graph import Endpoints
from tests.conftest import example_data
from tests.emulators import EntraEmulator
from tests.emulators.entra import CLOUD_APPLICATION_ADMINISTRATOR

CONFIG = load_config("example")
TENANT = CONFIG.entra[0]
REGION = CONFIG.region
assert TENANT.credentials_secret is not None
SECRET: str = TENANT.credentials_secret
UNIQUE_NAME = "mobile-sso-deployer-mobilesso-example-entraid"
APP_READ_WRITE_ALL = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
APP_ROLE_ASSIGNMENT_READ_WRITE_ALL = "06b708a9-e830-4db3-a914-8e69da51d44f"
ISSUER = "https://oidc.example.com/aws"
SUBJECT = "arn:aws:iam::123456789012:role/MobileSso-Example-EntraHandler"
runner = CliRunner()


@dataclass
class Tenant:
    """The emulated tenant, Secrets Manager, and the admin signed in to Azure CLI."""

    entra: EntraEmulator
    tmp: Path
    az_calls: Path
    token: str = ""

    def sign_in(self, token: str) -> None:
        """What `az account get-access-token` answers from now on."""
        self.token = token
        answer = json.dumps({"accessToken": token, "expires_on": 4102444800, "tokenType": "Bearer"})
        script = self.tmp / "bin" / "az"
        script.write_text(
            f"#!/bin/sh\necho \"$@\" >> '{self.az_calls}'\ncat <<'EOF'\n{answer}\nEOF\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    @property
    def secrets(self) -> Any:
        return boto3.client("secretsmanager", region_name=REGION)

    def secret_versions(self) -> list[str]:
        versions = self.secrets.list_secret_version_ids(SecretId=SECRET)["Versions"]
        return sorted(v["VersionId"] for v in versions)

    def stored(self) -> str:
        return str(self.secrets.get_secret_value(SecretId=SECRET)["SecretString"])

    def deployer(self) -> dict[str, Any]:
        (application,) = [a for a in self.entra.applications() if a.get("uniqueName")]
        return application

    def deployer_sp(self) -> dict[str, Any]:
        app_id = self.deployer()["appId"]
        (sp,) = [sp for sp in self.entra.service_principals() if sp["appId"] == app_id]
        return sp

    def granted(self) -> list[str]:
        return sorted(
            a["appRoleId"] for a in self.entra.granted_app_roles(self.deployer_sp()["id"])
        )

    def writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.entra.requests() if r.method != "GET"]

    def config_file(self, **tenant_changes: Any) -> Path:
        data = example_data()
        data["entra"][0].update(tenant_changes)
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        return path


@pytest.fixture
def tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    with mock_aws(), EntraEmulator(tenant_id=TENANT.tenant_id) as entra:
        monkeypatch.setenv("ENTRA_GRAPH_ENDPOINT", entra.graph_base_url)
        monkeypatch.setenv("ENTRA_LOGIN_AUTHORITY", entra.authority_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra.ca_bundle))
        (tmp_path / "bin").mkdir()
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
        monkeypatch.setattr(bootstrap_entra, "RETRY_FIRST_DELAY_SECONDS", 0.01)
        state = Tenant(entra, tmp_path, tmp_path / "az-calls.txt")
        state.sign_in(entra.issue_admin_token())
        yield state


def bootstrap(*args: str, exit_code: int = 0, stdin: str | None = None) -> Any:
    result = runner.invoke(app, ["bootstrap-entra", "--env", "example", *args], input=stdin)
    assert result.exit_code == exit_code, result.output
    return result


# --- a fresh tenant ---------------------------------------------------------------------------


def test_fresh_tenant_gets_app_service_principal_consent_certificate_and_secret(
    tenant: Tenant,
) -> None:
    result = bootstrap("--yes")

    application = tenant.deployer()
    assert application["uniqueName"] == UNIQUE_NAME
    assert application["signInAudience"] == "AzureADMyOrg"
    assert application["requiredResourceAccess"] == [
        {
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": APP_READ_WRITE_ALL, "type": "Role"}],
        }
    ]
    assert tenant.granted() == [APP_READ_WRITE_ALL]
    credentials = parse_credentials(tenant.stored(), SECRET)
    assert (credentials.tenant_id, credentials.client_id) == (
        TENANT.tenant_id,
        application["appId"],
    )
    assert credentials.certificate_pem is not None
    certificate = x509.load_pem_x509_certificate(credentials.certificate_pem.encode())
    (key_credential,) = application["keyCredentials"]
    assert x509.load_der_x509_certificate(base64.b64decode(key_credential["key"])) == certificate
    assert "-----BEGIN PRIVATE KEY-----" in credentials.certificate_pem
    assert result.stdout.rstrip().endswith("Next: make deploy ENV=example")


def test_the_admin_token_is_asked_of_azure_cli_for_graph_in_the_configs_tenant(
    tenant: Tenant,
) -> None:
    bootstrap("--yes", "--dry-run")

    calls = tenant.az_calls.read_text().split()
    assert calls[:2] == ["account", "get-access-token"]
    assert calls[calls.index("--resource") + 1] == "https://graph.microsoft.com"
    assert calls[calls.index("--tenant") + 1] == TENANT.tenant_id


def test_assignments_in_the_config_add_app_role_assignment_permission(tenant: Tenant) -> None:
    config = tenant.config_file(assignments={"users": [tenant.entra.add_user()], "groups": []})

    bootstrap("--config", str(config), "--yes")

    wanted = sorted([APP_READ_WRITE_ALL, APP_ROLE_ASSIGNMENT_READ_WRITE_ALL])
    access = tenant.deployer()["requiredResourceAccess"][0]["resourceAccess"]
    assert sorted(a["id"] for a in access) == wanted
    assert tenant.granted() == wanted


# --- idempotency and the plan -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["certificate", "secret", "federated"])
def test_second_run_writes_nothing_to_graph_or_secrets_manager(tenant: Tenant, mode: str) -> None:
    federated = ["--issuer", ISSUER, "--subject", SUBJECT] if mode == "federated" else []
    bootstrap("--credential", mode, *federated, "--yes")
    versions = tenant.secret_versions() if mode != "federated" else []
    tenant.entra.clear_requests()

    result = bootstrap("--credential", mode, *federated, "--yes")

    assert tenant.writes() == []
    if mode != "federated":
        assert tenant.secret_versions() == versions
    assert "Nothing to change" in result.stdout


def test_dry_run_prints_each_call_and_writes_nothing_anywhere(tenant: Tenant) -> None:
    result = bootstrap("--dry-run")

    assert tenant.writes() == []
    assert tenant.entra.applications() == []
    with pytest.raises(
        tenant.secrets.exceptions.ResourceNotFoundException,
        match="Secrets Manager can't find the specified secret",
    ):
        tenant.secrets.describe_secret(SecretId=SECRET)
    assert f"PATCH /applications(uniqueName='{UNIQUE_NAME}') (Prefer: create-if-missing)" in (
        result.stdout
    )
    assert "POST /servicePrincipals {appId}" in result.stdout
    assert "appRoleAssignedTo" in result.stdout
    assert "secretsmanager:CreateSecret" in result.stdout
    assert "Dry run: 5 change(s) planned; nothing was written." in result.stdout


def test_without_yes_the_plan_is_shown_and_declining_changes_nothing(tenant: Tenant) -> None:
    result = bootstrap(stdin="n\n", exit_code=1)

    assert "plan  create app registration" in result.stdout
    assert "Nothing was changed." in result.stdout
    assert tenant.writes() == []


def test_accepting_the_plan_makes_the_changes(tenant: Tenant) -> None:
    result = bootstrap(stdin="y\n")

    assert "Make these 5 change(s)?" in result.stdout
    assert parse_credentials(tenant.stored(), SECRET).client_id == tenant.deployer()["appId"]


# --- credentials ------------------------------------------------------------------------------


def test_secret_mode_stores_a_client_secret_of_the_app(tenant: Tenant) -> None:
    bootstrap("--credential", "secret", "--valid-days", "90", "--yes")

    credentials = parse_credentials(tenant.stored(), SECRET)
    assert credentials.client_secret is not None
    (password,) = tenant.deployer()["passwordCredentials"]
    assert password["hint"] == credentials.client_secret[:3]
    assert password["displayName"].startswith("mobile-sso bootstrap-entra ")


def test_federated_mode_adds_the_credential_and_stores_no_secret(tenant: Tenant) -> None:
    result = bootstrap(
        "--credential", "federated", "--issuer", ISSUER, "--subject", SUBJECT, "--yes"
    )

    (credential,) = tenant.entra.applications()[0]["federatedIdentityCredentials"]
    assert set(credential) == {"name", "issuer", "subject", "audiences", "description"}
    assert (credential["issuer"], credential["subject"], credential["audiences"]) == (
        ISSUER,
        SUBJECT,
        ["api://AzureADTokenExchange"],
    )
    with pytest.raises(
        tenant.secrets.exceptions.ResourceNotFoundException,
        match="Secrets Manager can't find the specified secret",
    ):
        tenant.secrets.describe_secret(SecretId=SECRET)
    assert tenant.deployer()["appId"] in result.stdout


def test_federated_subject_change_updates_the_credential_in_place(tenant: Tenant) -> None:
    bootstrap("--credential", "federated", "--issuer", ISSUER, "--subject", SUBJECT, "--yes")
    new_subject = SUBJECT + "-v2"

    bootstrap("--credential", "federated", "--issuer", ISSUER, "--subject", new_subject, "--yes")

    credentials = tenant.deployer()["federatedIdentityCredentials"]
    assert [c["subject"] for c in credentials] == [new_subject]


def test_federated_mode_without_subject_is_bad_usage(tenant: Tenant) -> None:
    result = bootstrap("--credential", "federated", "--issuer", ISSUER, "--yes", exit_code=2)

    assert "--subject" in result.output
    assert tenant.entra.requests() == []


# --- a tenant configured with entra[].federation ------------------------------------------


def federated_config(tenant: Tenant, **federation: str) -> str:
    """The example with its tenant switched to federation, client id not yet known."""
    return str(tenant.config_file(credentials_secret=None, federation=federation))


def test_federated_tenant_gets_a_federated_credential_for_the_handler_role(
    tenant: Tenant,
) -> None:
    bootstrap("--config", federated_config(tenant), "--issuer", ISSUER, "--yes")

    (credential,) = tenant.deployer()["federatedIdentityCredentials"]
    assert credential["subject"] == outputs.handler_role_arn(
        "123456789012", REGION, CONFIG.stack_name
    )
    assert credential["audiences"] == ["api://AzureADTokenExchange"]


def test_federated_tenant_is_told_where_to_put_the_client_id(tenant: Tenant) -> None:
    result = bootstrap("--config", federated_config(tenant), "--issuer", ISSUER, "--yes")

    assert f"client_id: {tenant.deployer()['appId']}" in result.stdout


def test_federated_tenant_naming_its_client_id_gets_no_config_instruction(
    tenant: Tenant,
) -> None:
    bootstrap("--config", federated_config(tenant), "--issuer", ISSUER, "--yes")
    config = federated_config(tenant, client_id=tenant.deployer()["appId"])

    result = bootstrap("--config", config, "--issuer", ISSUER, "--yes")

    assert "client_id:" not in result.stdout


def test_federated_tenant_takes_the_audience_from_the_config(tenant: Tenant) -> None:
    config = federated_config(tenant, audience="api://custom-audience")

    bootstrap("--config", config, "--issuer", ISSUER, "--yes")

    (credential,) = tenant.deployer()["federatedIdentityCredentials"]
    assert credential["audiences"] == ["api://custom-audience"]


def test_stored_credential_for_a_federated_tenant_is_refused(tenant: Tenant) -> None:
    config = federated_config(tenant)

    result = bootstrap("--config", config, "--credential", "secret", "--yes", exit_code=2)

    assert "entra[].federation" in result.output
    assert tenant.entra.requests() == []


def test_federated_tenant_without_issuer_is_told_how_to_read_it(tenant: Tenant) -> None:
    result = bootstrap("--config", federated_config(tenant), "--yes", exit_code=2)

    assert "get-outbound-web-identity-federation-info" in result.output
    assert tenant.entra.requests() == []


def test_rotate_credential_adds_a_certificate_keeps_the_old_and_stores_a_new_version(
    tenant: Tenant,
) -> None:
    bootstrap("--yes")
    first = parse_credentials(tenant.stored(), SECRET).certificate_pem

    bootstrap("--rotate-credential", "--yes")

    assert len(tenant.deployer()["keyCredentials"]) == 2
    assert len(tenant.secret_versions()) == 2
    assert parse_credentials(tenant.stored(), SECRET).certificate_pem != first


def test_secret_of_another_app_registration_is_not_replaced_without_rotate(
    tenant: Tenant,
) -> None:
    by_hand = {"tenantId": TENANT.tenant_id, "clientId": "a-hand-made-app", "clientSecret": "x~y"}
    tenant.secrets.create_secret(Name=SECRET, SecretString=json.dumps(by_hand))

    result = bootstrap("--credential", "secret", "--yes", exit_code=1)

    assert "holds credentials of another app registration (clientId a-hand-made-app)" in (
        result.stderr
    )
    assert "--rotate-credential" in result.stderr
    assert json.loads(tenant.stored()) == by_hand


# --- consent ----------------------------------------------------------------------------------


def test_consent_grants_only_roles_not_yet_granted(tenant: Tenant) -> None:
    bootstrap("--yes")
    config = tenant.config_file(assignments={"users": [tenant.entra.add_user()], "groups": []})
    tenant.entra.clear_requests()

    bootstrap("--config", str(config), "--yes")

    graph_sp = tenant.entra.microsoft_graph_sp_id
    grants = [r.json for r in tenant.entra.requests() if r.path.endswith("/appRoleAssignedTo")]
    assert [g["appRoleId"] for g in grants if g] == [APP_ROLE_ASSIGNMENT_READ_WRITE_ALL]
    assert all(
        r.path.startswith(f"/v1.0/servicePrincipals/{graph_sp}/")
        for r in tenant.entra.requests()
        if r.path.endswith("/appRoleAssignedTo")
    )


def test_a_permission_no_longer_needed_is_revoked(tenant: Tenant) -> None:
    config = tenant.config_file(assignments={"users": [tenant.entra.add_user()], "groups": []})
    bootstrap("--config", str(config), "--yes")

    bootstrap("--yes")

    assert tenant.granted() == [APP_READ_WRITE_ALL]
    access = tenant.deployer()["requiredResourceAccess"][0]["resourceAccess"]
    assert [a["id"] for a in access] == [APP_READ_WRITE_ALL]


def test_admin_who_cannot_grant_consent_gets_a_403_naming_the_roles_needed(
    tenant: Tenant,
) -> None:
    tenant.sign_in(
        tenant.entra.issue_admin_token(directory_roles=[CLOUD_APPLICATION_ADMINISTRATOR])
    )

    result = bootstrap("--yes", exit_code=1)

    assert "403 Authorization_RequestDenied" in result.stderr
    assert "Global Administrator or Privileged Role Administrator" in result.stderr
    assert "Done before the failure" in result.stderr
    assert "create app registration" in result.stderr
    assert "Re-run the same command" in result.stderr


def test_rerun_as_a_global_admin_after_the_403_completes_without_duplicates(
    tenant: Tenant,
) -> None:
    tenant.sign_in(
        tenant.entra.issue_admin_token(directory_roles=[CLOUD_APPLICATION_ADMINISTRATOR])
    )
    bootstrap("--yes", exit_code=1)
    tenant.sign_in(tenant.entra.issue_admin_token())

    bootstrap("--yes")

    assert len(tenant.entra.applications()) == 1
    assert len(tenant.entra.service_principals()) == 1
    assert tenant.granted() == [APP_READ_WRITE_ALL]
    assert len(tenant.deployer()["keyCredentials"]) == 1


# --- failures ---------------------------------------------------------------------------------


def test_create_whose_answer_was_lost_is_adopted_by_the_rerun(tenant: Tenant) -> None:
    tenant.entra.drop_next("PATCH", r"uniqueName", after_commit=True)

    failed = bootstrap("--yes", exit_code=1)
    bootstrap("--yes")

    assert "Microsoft Graph PATCH /applications(uniqueName=" in failed.stderr
    assert len(tenant.entra.applications()) == 1
    assert len(tenant.entra.service_principals()) == 1
    assert tenant.granted() == [APP_READ_WRITE_ALL]


def test_replication_lag_after_each_create_is_waited_out(tenant: Tenant) -> None:
    tenant.entra.replication_lag(requests=2)

    bootstrap("--yes")

    assert tenant.granted() == [APP_READ_WRITE_ALL]
    assert parse_credentials(tenant.stored(), SECRET).client_id == tenant.deployer()["appId"]


def test_secrets_manager_failure_after_minting_says_what_was_added_and_not_stored(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        error = tenant.secrets.exceptions.ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "CreateSecret"
        )
        raise error

    def refusing(region: str) -> Any:
        client = bootstrap_entra.secrets_client(region)
        monkeypatch.setattr(client, "create_secret", refuse)
        return client

    monkeypatch.setattr("mobile_sso.bootstrap_command.secrets_client", refusing)

    result = bootstrap("--credential", "secret", "--yes", exit_code=1)

    assert "CreateSecret on mobile-sso/entra-deployer failed (AccessDeniedException)" in (
        result.stderr
    )
    keyid = tenant.deployer()["passwordCredentials"][0]["keyId"]
    assert f"keyId {keyid}" in result.stderr
    assert "added to the app registration but not stored" in result.stderr


# --- secrecy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["secret", "certificate"])
def test_the_credential_is_never_printed_or_logged(
    tenant: Tenant, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    result = bootstrap("--credential", mode, "--yes")

    credentials = parse_credentials(tenant.stored(), SECRET)
    secrets = [credentials.client_secret] if mode == "secret" else []
    pem = credentials.certificate_pem or ""
    secrets += [line for line in pem.splitlines() if line and not line.startswith("-----")]
    secrets.append(tenant.token)
    logged = [record.getMessage() for record in caplog.records]
    assert secrets
    for secret in secrets:
        assert secret
        assert secret not in result.output
        assert not any(secret in message for message in logged)


# --- signing in and choosing the tenant -------------------------------------------------------


def test_device_code_sign_in_shows_the_code_and_goes_through_azure_clis_client(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}

    class DeviceCode:
        """Stands in for the browser half: the admin enters the code, Entra issues a token."""

        def __init__(self, **kwargs: Any) -> None:
            made.update(kwargs)

        def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
            made["scopes"] = scopes
            made["prompt_callback"]("https://microsoft.com/devicelogin", "CODE1234", None)
            return AccessToken(tenant.token, 4102444800)

        def close(self) -> None:
            made["closed"] = True

    monkeypatch.setattr("azure.identity.DeviceCodeCredential", DeviceCode)

    result = bootstrap("--auth", "device-code", "--yes")

    assert "open https://microsoft.com/devicelogin and enter CODE1234" in result.stderr
    assert (made["client_id"], made["tenant_id"]) == (
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        TENANT.tenant_id,
    )
    assert made["authority"] == tenant.entra.authority_url
    assert made["scopes"] == ("https://graph.microsoft.com/.default",)
    assert made["closed"] is True
    assert tenant.granted() == [APP_READ_WRITE_ALL]


def test_an_environment_with_several_tenants_needs_idp() -> None:
    result = runner.invoke(app, ["bootstrap-entra", "--env", "example-multitenant", "--dry-run"])

    assert result.exit_code == 2
    assert "Contoso, Fabrikam, Northwind" in result.output
    assert "--idp" in result.output


def test_consent_answered_503_after_it_was_granted_is_not_granted_twice(tenant: Tenant) -> None:
    tenant.entra.fail_next(
        "POST", r"/appRoleAssignedTo$", 503, "ServiceUnavailable", after_commit=True
    )

    bootstrap("--yes")

    grants = [r for r in tenant.entra.requests() if r.path.endswith("/appRoleAssignedTo")]
    assert [r.status for r in grants] == [503, 400]
    assert tenant.granted() == [APP_READ_WRITE_ALL]


def test_throttling_is_waited_out_as_retry_after_says(tenant: Tenant) -> None:
    pauses: list[float] = []
    tenant.entra.fail_next(
        "GET", r"^/v1.0/servicePrincipals", 429, "TooManyRequests", retry_after=7
    )
    endpoints = Endpoints.for_cloud("global")

    with httpx.Client(timeout=10) as http:
        graph = bootstrap_entra.AdminGraph(
            http, endpoints, lambda: tenant.token, sleep=pauses.append
        )
        found = graph.get(f"/servicePrincipals/{tenant.entra.microsoft_graph_sp_id}")

    assert pauses == [7]
    assert found is not None


def test_another_federated_credential_trusting_the_same_subject_is_named_in_the_error(
    tenant: Tenant,
) -> None:
    bootstrap("--yes")
    by_hand = {
        "name": "by-hand",
        "issuer": ISSUER,
        "subject": SUBJECT,
        "audiences": ["api://AzureADTokenExchange"],
    }
    made = httpx.post(
        f"{tenant.entra.graph_base_url}/v1.0/applications/{tenant.deployer()['id']}"
        "/federatedIdentityCredentials",
        json=by_hand,
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert made.status_code == 201, made.text

    federated = ["--credential", "federated", "--issuer", ISSUER, "--subject", SUBJECT]
    result = bootstrap(*federated, "--yes", exit_code=1)

    assert "another federated credential of the app registration (by-hand)" in result.stderr
    assert "Federated credentials), then re-run" in result.stderr


# --- a deployer an admin deleted (issue 13) ---------------------------------------------------


def delete_deployer(tenant: Tenant) -> dict[str, Any]:
    """Bootstrap, then delete the deployer app registration as an admin would: it goes to
    Entra's deleted items, keeping its uniqueName."""
    bootstrap("--yes")
    deployer = tenant.deployer()
    gone = httpx.delete(
        f"{tenant.entra.graph_base_url}/v1.0/applications/{deployer['id']}",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert gone.status_code == 204, gone.text
    tenant.entra.clear_requests()
    return deployer


def test_graph_refuses_a_new_app_registration_with_a_deleted_ones_unique_name(
    tenant: Tenant,
) -> None:
    delete_deployer(tenant)

    upsert = httpx.patch(
        f"{tenant.entra.graph_base_url}/v1.0/applications(uniqueName='{UNIQUE_NAME}')",
        json={"displayName": "again"},
        headers={"Authorization": f"Bearer {tenant.token}", "Prefer": "create-if-missing"},
    )

    assert upsert.status_code == 400
    assert upsert.json()["error"]["code"] == "Request_BadRequest"
    assert "uniqueName already exists" in upsert.json()["error"]["message"]


def test_a_deleted_deployer_is_restored_not_recreated(tenant: Tenant) -> None:
    deleted = delete_deployer(tenant)

    result = bootstrap("--yes")

    restored = tenant.deployer()
    assert (restored["id"], restored["appId"]) == (deleted["id"], deleted["appId"])
    assert tenant.entra.deleted_applications() == []
    assert f"POST /v1.0/directory/deletedItems/{deleted['id']}/restore" in tenant.writes()
    assert not any(w.startswith("PATCH /v1.0/applications(uniqueName=") for w in tenant.writes())
    assert f"done  restore app registration {deleted['displayName']!r}" in result.stdout
    assert tenant.granted() == [APP_READ_WRITE_ALL]


def test_the_plan_says_it_will_restore_the_deleted_deployer(tenant: Tenant) -> None:
    deleted = delete_deployer(tenant)

    result = bootstrap("--dry-run")

    assert f"plan  restore app registration {deleted['displayName']!r}" in result.stdout
    assert f"POST /directory/deletedItems/{deleted['id']}/restore" in result.stdout
    assert tenant.writes() == []
    assert [a["id"] for a in tenant.entra.deleted_applications()] == [deleted["id"]]


def test_without_yes_the_restore_is_asked_for_first(tenant: Tenant) -> None:
    deleted = delete_deployer(tenant)

    result = bootstrap(stdin="n\n", exit_code=1)

    assert "restore app registration" in result.stdout
    assert "Nothing was changed." in result.stdout
    assert [a["id"] for a in tenant.entra.deleted_applications()] == [deleted["id"]]
