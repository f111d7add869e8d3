"""The example environment deployed in moto (Cognito, Secrets Manager, CloudFormation) and
the Entra emulator (Graph, token endpoint, federation metadata), for the doctor's tests.

The `deployment` fixture (registered in tests/conftest.py) deploys what
`config/example.yaml` describes, as the stack would; each test then breaks one thing and
expects exactly the finding that names it. `doctor()` runs the command, `diagnose_directly()`
the checks without the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.cli_common import metadata_fetcher
from mobile_sso.config import ENTRA_EMAIL_CLAIM, EnvironmentConfig, load_config
from mobile_sso.doctor_checks import Diagnosis, diagnose
from tests.emulators import EntraEmulator

CONFIG = load_config("example")
TENANT = CONFIG.entra[0]
REGION = CONFIG.region
PREFIX = CONFIG.domain.prefix or ""
HOST = f"{PREFIX}.auth.{REGION}.amazoncognito.com"
REPLY_URL = f"https://{HOST}/saml2/idpresponse"
LOGOUT_URL = f"https://{HOST}/saml2/logout"
IDP = TENANT.idp_name
FIXTURE_METADATA = Path(__file__).parent / "fixtures" / "app-federation-metadata.xml"
FIXTURE_TENANT = "57bcdcef-15e9-45a8-9b6b-62efcb7036ba"  # the fixture's entityID
runner = CliRunner()


# --- the deployment ----------------------------------------------------------------------


@dataclass
class Deployment:
    """The example environment deployed in moto and the emulator, and handles to break it."""

    tmp: Path
    entra: EntraEmulator
    http: httpx.Client  # to Graph, as an admin in the portal
    pool_id: str
    client_ids: dict[str, str]
    app_id: str
    app_object_id: str
    sp_id: str
    outputs: dict[str, str]

    @property
    def cognito(self) -> Any:
        return boto3.client("cognito-idp", region_name=REGION)

    @property
    def outputs_file(self) -> Path:
        path = self.tmp / "cdk-outputs-example.json"
        path.write_text(json.dumps({CONFIG.stack_name: self.outputs}))
        return path

    def graph(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return graph_call(self.entra, self.http, method, path, body)

    def assign(self, principal_id: str) -> None:
        assign(self.entra, self.http, self.sp_id, principal_id)

    def replace_idp(self, **changes: Any) -> None:
        """The identity provider made again with some settings changed."""
        current = self.cognito.describe_identity_provider(
            UserPoolId=self.pool_id, ProviderName=IDP
        )["IdentityProvider"]
        self.cognito.delete_identity_provider(UserPoolId=self.pool_id, ProviderName=IDP)
        settings = {
            "ProviderDetails": current["ProviderDetails"],
            "AttributeMapping": current["AttributeMapping"],
            **changes,
        }
        self.cognito.create_identity_provider(
            UserPoolId=self.pool_id, ProviderName=IDP, ProviderType="SAML", **settings
        )

    def update_client(self, name: str, **changes: Any) -> None:
        # The full client config, as AWS resets omitted fields (moto merges; be AWS-shaped).
        self.cognito.update_user_pool_client(
            UserPoolId=self.pool_id, ClientId=self.client_ids[name], **{**CLIENT, **changes}
        )


USER_ROLE_ID = "18d14569-c3bd-439b-9a66-3a2aee01d14f"  # the template's "User" app role
CLIENT = {
    "CallbackURLs": ["com.example.mobilesso://callback"],
    "LogoutURLs": ["com.example.mobilesso://signout"],
    "AllowedOAuthFlows": ["code"],
    "AllowedOAuthScopes": ["openid", "email", "profile"],
    "AllowedOAuthFlowsUserPoolClient": True,
    "SupportedIdentityProviders": [IDP],
    "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"],
}


def graph_call(
    entra: EntraEmulator,
    http: httpx.Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> Any:
    """A Graph call as an admin would make it in the portal."""
    response = http.request(
        method,
        f"{entra.graph_base_url}/v1.0{path}",
        json=body,
        headers={"Authorization": f"Bearer {entra.issue_access_token()}"},
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def assign(entra: EntraEmulator, http: httpx.Client, sp_id: str, principal_id: str) -> None:
    body = {"principalId": principal_id, "resourceId": sp_id, "appRoleId": USER_ROLE_ID}
    graph_call(entra, http, "POST", f"/servicePrincipals/{sp_id}/appRoleAssignedTo", body)


def _seed_entra(entra: EntraEmulator, http: httpx.Client, pool_id: str) -> tuple[str, str, str]:
    """The enterprise application as the custom resource leaves it; (appId, app, sp ids)."""
    made = entra.add_application("mobile-sso-example (mobile SSO)")
    application, sp = made["application"], made["servicePrincipal"]
    role_ids = {role["displayName"]: role["id"] for role in sp["appRoles"]}
    assert role_ids["User"] == USER_ROLE_ID

    def graph(method: str, path: str, body: dict[str, Any]) -> Any:
        return graph_call(entra, http, method, path, body)

    graph(
        "PATCH",
        f"/applications/{application['id']}",
        {
            "identifierUris": [f"urn:amazon:cognito:sp:{pool_id}"],
            "web": {"redirectUris": [REPLY_URL], "logoutUrl": LOGOUT_URL},
        },
    )
    graph(
        "PATCH",
        f"/servicePrincipals/{sp['id']}",
        {"preferredSingleSignOnMode": "saml", "appRoleAssignmentRequired": True},
    )
    certificate = graph(
        "POST",
        f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate",
        {"displayName": "CN=Microsoft Azure Federated SSO Certificate"},
    )
    graph(
        "PATCH",
        f"/servicePrincipals/{sp['id']}",
        {"preferredTokenSigningKeyThumbprint": certificate["thumbprint"]},
    )
    assign(entra, http, sp["id"], entra.add_user("Ada Lovelace"))
    return application["appId"], application["id"], sp["id"]


def _outputs(
    pool_id: str, client_ids: dict[str, str], app_id: str, metadata_url: str
) -> dict[str, str]:
    values = {
        "Region": REGION,
        "UserPoolId": pool_id,
        "CognitoDomain": HOST,
        "SamlEntityId": f"urn:amazon:cognito:sp:{pool_id}",
        "SamlReplyUrl": REPLY_URL,
        "ClientNames": "ios,android",
        "IdentityProviderNames": IDP,
        f"Idp{IDP}TenantId": TENANT.tenant_id,
        f"Idp{IDP}EntraAppId": app_id,
        f"Idp{IDP}MetadataUrl": metadata_url,
    }
    for name, client_id in client_ids.items():
        key = "Client" + name.capitalize()
        values |= {
            f"{key}Id": client_id,
            f"{key}IdentityProviders": IDP,
            f"{key}CallbackUrls": "com.example.mobilesso://callback",
            f"{key}SignOutUrls": "com.example.mobilesso://signout",
            f"{key}Scopes": "openid,email,profile",
            f"{key}OAuthFlows": "authorization_code",
        }
    return values


# How a test puts the Entra application in the tenant: (app id, app object id, sp id).
Seed = Callable[[EntraEmulator, httpx.Client, str], tuple[str, str, str]]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with deployed(tmp_path, monkeypatch, _seed_entra) as made:
        yield made


@contextmanager
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: Seed) -> Iterator[Deployment]:
    """The deployment, with its Entra application made by `seed` in the emulated tenant
    (the deployer secret is stored before `seed` runs)."""
    with (
        mock_aws(),
        EntraEmulator(tenant_id=TENANT.tenant_id) as entra,
        httpx.Client(timeout=10) as http,
    ):
        monkeypatch.setenv("ENTRA_GRAPH_ENDPOINT", entra.graph_base_url)
        monkeypatch.setenv("ENTRA_LOGIN_AUTHORITY", entra.authority_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra.ca_bundle))
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=TENANT.credentials_secret,
            SecretString=json.dumps(
                {
                    "tenantId": entra.tenant_id,
                    "clientId": entra.client_id,
                    "clientSecret": entra.client_secret,
                }
            ),
        )
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool_id = cognito.create_user_pool(
            PoolName=CONFIG.user_pool.name,
            UsernameAttributes=["email"],
            Schema=[
                {
                    "Name": "email",
                    "AttributeDataType": "String",
                    "Required": True,
                    "Mutable": True,
                }
            ],
        )["UserPool"]["Id"]
        cognito.create_user_pool_domain(Domain=PREFIX, UserPoolId=pool_id)
        app_id, app_object_id, sp_id = seed(entra, http, pool_id)
        metadata_url = entra.metadata_url(app_id)
        cognito.create_identity_provider(
            UserPoolId=pool_id,
            ProviderName=IDP,
            ProviderType="SAML",
            ProviderDetails={"MetadataURL": metadata_url, "IDPSignout": "false"},
            AttributeMapping={"email": ENTRA_EMAIL_CLAIM},
        )
        client_ids = {
            name: cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **CLIENT)[
                "UserPoolClient"
            ]["ClientId"]
            for name in ("ios", "android")
        }
        outputs = _outputs(pool_id, client_ids, app_id, metadata_url)
        yield Deployment(
            tmp_path, entra, http, pool_id, client_ids, app_id, app_object_id, sp_id, outputs
        )


# --- running the doctor ------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    report: dict[str, Any]
    stderr: str

    @property
    def findings(self) -> list[tuple[str, str]]:
        return [(f["category"], f["severity"]) for f in self.report["findings"]]

    def message(self, category: str) -> str:
        found = [f for f in self.report["findings"] if f["category"] == category]
        assert len(found) == 1, self.report
        return str(found[0]["message"])

    def fix(self, category: str) -> str:
        found = [f for f in self.report["findings"] if f["category"] == category]
        assert len(found) == 1, self.report
        return str(found[0]["fix"])


def doctor(deployment: Deployment, *extra: str) -> Outcome:
    args = ["doctor", "--env", "example", "--outputs-file", str(deployment.outputs_file)]
    result = runner.invoke(app, [*args, "--json", *extra])
    assert result.exit_code in (0, 1), result.output
    return Outcome(result.exit_code, json.loads(result.stdout), result.stderr)


def diagnose_directly(deployment: Deployment, config: EnvironmentConfig, **ports: Any) -> Diagnosis:
    """The doctor's checks without the CLI, for `config`: moto's Cognito, the emulator's
    metadata, no Entra reads, unless `ports` (keyword arguments of `diagnose`) say otherwise."""
    arguments: dict[str, Any] = {
        "cognito": deployment.cognito,
        "fetch": metadata_fetcher("mobile-sso doctor (tests)"),
        "entra": None,
        "now": dt.datetime.now(dt.UTC),
    }
    return diagnose("example", config, deployment.outputs, **(arguments | ports))
