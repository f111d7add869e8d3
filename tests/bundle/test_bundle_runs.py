"""The pruned Lambda bundle itself runs a whole lifecycle against the Entra emulator.

The handler runs from the bundle folder, in a separate interpreter of the Lambda
runtime's Python version, with nothing of the test environment on its path: a module the
pruning removed but the handler needs shows up here as an ImportError.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE
from tests.emulators import EntraEmulator

RUNNER = Path(__file__).with_name("runner.py")
REGION = "eu-west-1"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:entra-deployer-AbCdEf"

# The Lambda runtime provides boto3; the bundle does not carry it. This stand-in serves the
# one call the handler makes, and only for the secret the event names.
BOTO3_STAND_IN = """
import json, os


class _SecretsManager:
    def get_secret_value(self, SecretId):
        if SecretId != os.environ["TEST_SECRET_ARN"]:
            raise KeyError(SecretId)
        return {"SecretString": os.environ["TEST_SECRET_JSON"]}


def client(service, region_name=None, **_):
    assert service == "secretsmanager", service
    return _SecretsManager()
"""


def lambda_environment(emulator: EntraEmulator) -> dict[str, str]:
    """What the construct and the Lambda runtime would set, aimed at `emulator`, plus the
    deployer secret the boto3 stand-in serves."""
    secret = {
        "tenantId": emulator.tenant_id,
        "clientId": emulator.client_id,
        "clientSecret": emulator.client_secret,
    }
    return {
        "ENTRA_GRAPH_ENDPOINT": emulator.graph_base_url,
        "ENTRA_LOGIN_AUTHORITY": emulator.authority_url,
        "SSL_CERT_FILE": str(emulator.ca_bundle),
        "REQUESTS_CA_BUNDLE": str(emulator.ca_bundle),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "TEST_SECRET_ARN": SECRET_ARN,
        "TEST_SECRET_JSON": json.dumps(secret),
    }


class BundledLambda:
    """The bundled handler in its own process, kept warm across calls like a Lambda."""

    def __init__(self, bundle: Path, runtime_dir: Path, env: dict[str, str]) -> None:
        assert ENTRA_HANDLER_BUNDLE.compiler is not None
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [ENTRA_HANDLER_BUNDLE.compiler, "-I", "-c", _BOOT, str(bundle), str(runtime_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def call(self, entry: str, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"entry": entry, "event": event}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the bundled handler died:\n{stderr[-3000:]}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise AssertionError(answer["error"])
        response: dict[str, Any] = answer["response"]
        return response

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


# `-I` drops PYTHONPATH and site-packages; the bundle and the boto3 stand-in go first.
_BOOT = (
    "import runpy, sys; sys.path[:0] = sys.argv[1:3]; "
    f"runpy.run_path({str(RUNNER)!r}, run_name='__main__')"
)


@pytest.fixture(scope="module")
def bundle() -> Path:
    if ENTRA_HANDLER_BUNDLE.compiler is None:
        pytest.skip(f"no Python {ENTRA_HANDLER_BUNDLE.python_version} interpreter here")
    return ENTRA_HANDLER_BUNDLE.cached_build()


@pytest.fixture
def bundled(bundle: Path, tmp_path: Path) -> Iterator[tuple[BundledLambda, EntraEmulator]]:
    runtime_dir = tmp_path / "runtime"
    (runtime_dir / "boto3").mkdir(parents=True)
    (runtime_dir / "boto3" / "__init__.py").write_text(BOTO3_STAND_IN)
    with EntraEmulator() as emulator:
        env = {**lambda_environment(emulator), "PYTHONDONTWRITEBYTECODE": "1"}
        running = BundledLambda(bundle, runtime_dir, env)
        try:
            yield running, emulator
        finally:
            running.close()


def event(request_type: str, emulator: EntraEmulator, user_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/Bundle/1",
        "RequestId": "1",
        "LogicalResourceId": "EntraApp7BB2FE50",
        "ResourceType": "Custom::EntraSamlApplication",
        "ResourceProperties": {
            "TenantId": emulator.tenant_id,
            "DisplayName": "Bundle test",
            "IdentifierUri": "urn:amazon:cognito:sp:eu-west-1_Bundle",
            "ReplyUrl": "https://bundle.auth.eu-west-1.amazoncognito.com/saml2/idpresponse",
            "LogoutUrl": "https://bundle.auth.eu-west-1.amazoncognito.com/saml2/logout",
            "Assignments": [{"PrincipalId": user_id, "PrincipalType": "User"}],
            "AssignmentRequired": "true",
            "CredentialsSecretArn": SECRET_ARN,
        },
        **extra,
    }


def test_bundle_creates_waits_and_deletes_an_entra_app(
    bundled: tuple[BundledLambda, EntraEmulator],
) -> None:
    lam, emulator = bundled
    user_id = emulator.add_user("Bundle User")
    create = event("Create", emulator, user_id)
    started = lam.call("on_event", create)
    physical_id = started["PhysicalResourceId"]
    for _ in range(60):
        answer = lam.call("is_complete", {**create, **started})
        if answer["IsComplete"]:
            break
    else:
        pytest.fail("the bundled handler never completed")
    data = answer["Data"]
    (app,) = emulator.applications()
    assert app["id"] == physical_id
    assert data["AppId"] == app["appId"]
    assert data["MetadataUrl"] == emulator.metadata_url(app["appId"])
    (sp,) = emulator.service_principals()
    assert sp["preferredSingleSignOnMode"] == "saml"
    assert sp["preferredTokenSigningKeyThumbprint"] == data["SigningCertificateThumbprint"]

    lam.call("on_event", event("Delete", emulator, user_id, PhysicalResourceId=physical_id))
    assert emulator.applications() == []


def test_bundle_reads_graph_errors_into_an_actionable_reason(
    bundled: tuple[BundledLambda, EntraEmulator],
) -> None:
    # The error body is the one model the handler deserialises (the adapter's error mapping).
    lam, emulator = bundled
    user_id = emulator.add_user("Bundle User")
    emulator.fail_next(
        "POST", r"/instantiate$", 403, "Authorization_RequestDenied", "Insufficient privileges"
    )

    with pytest.raises(AssertionError) as failed:
        lam.call("on_event", event("Create", emulator, user_id))

    reason = str(failed.value)
    assert reason.startswith("ProvisioningError:")
    assert "403 Authorization_RequestDenied" in reason  # the code is read from the body
    assert "grant admin consent" in reason
    assert emulator.applications() == []


def test_bundle_imports_nothing_from_the_test_environment(bundle: Path) -> None:
    compiler = ENTRA_HANDLER_BUNDLE.compiler
    assert compiler is not None
    probe = subprocess.run(  # noqa: S603 - fixed arguments
        [
            compiler,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import entra_saml_app.handler, "
            "msgraph.graph_service_client, azure.identity.aio; "
            "print(sorted({m.__file__.split(sys.argv[1])[0] for m in list(sys.modules.values()) "
            "if getattr(m, '__file__', None) and 'site-packages' in m.__file__}))",
            str(bundle),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", "modules came from outside the bundle"


@pytest.fixture
def bundled_usgov(bundle: Path, tmp_path: Path) -> Iterator[tuple[BundledLambda, EntraEmulator]]:
    """The bundle as the construct deploys it for the US Government cloud."""
    runtime_dir = tmp_path / "runtime"
    (runtime_dir / "boto3").mkdir(parents=True)
    (runtime_dir / "boto3" / "__init__.py").write_text(BOTO3_STAND_IN)
    with EntraEmulator(cloud="usgov") as emulator:
        env = {
            **lambda_environment(emulator),
            "ENTRA_CLOUD": "usgov",
            "ENTRA_NON_GALLERY_TEMPLATE_ID": emulator.template_id,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        running = BundledLambda(bundle, runtime_dir, env)
        try:
            yield running, emulator
        finally:
            running.close()


def test_bundle_uploads_its_own_signing_certificate_in_a_national_cloud(
    bundled_usgov: tuple[BundledLambda, EntraEmulator],
) -> None:
    # cryptography's PKCS#12 writer must survive the pruning.
    lam, emulator = bundled_usgov
    user_id = emulator.add_user("Bundle User")

    started = lam.call("on_event", event("Create", emulator, user_id))

    (sp,) = emulator.service_principals()
    (certificate,) = emulator.signing_certificates(sp["id"])
    assert certificate.active
    assert certificate.thumbprint == started["Data"]["SigningCertificateThumbprint"]
