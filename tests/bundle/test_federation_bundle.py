"""The bundled handler signs in without a stored secret, using only what the Lambda runtime
provides besides the bundle: botocore (its SigV4 signer and HTTP session; the bundle does
not carry boto3 or botocore) to ask STS for a web identity token."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bundle.test_bundle_runs import REGION, BundledLambda, bundle, event, lambda_environment
from tests.emulators import EntraEmulator, StsEmulator

__all__ = ["bundle"]  # the module-scoped fixture, shared with the bundle's other tests

# The runtime's copy of botocore and what it imports that the bundle does not carry.
RUNTIME_PACKAGES = ("botocore", "dateutil", "jmespath", "six")


@pytest.fixture
def federated(
    bundle: Path, tmp_path: Path
) -> Iterator[tuple[BundledLambda, EntraEmulator, StsEmulator]]:
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime_dir / source.name).symlink_to(source)
    with EntraEmulator() as emulator, StsEmulator(region=REGION) as sts:
        emulator.add_federated_credential(issuer=sts.issuer, subject=sts.role_arn)
        env = {
            **lambda_environment(emulator),
            **sts.lambda_environment(),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        running = BundledLambda(bundle, runtime_dir, env)
        try:
            yield running, emulator, sts
        finally:
            running.close()


def test_bundle_creates_an_entra_app_with_a_web_identity_token(
    federated: tuple[BundledLambda, EntraEmulator, StsEmulator],
) -> None:
    lam, emulator, sts = federated
    create = event("Create", emulator, emulator.add_user("Bundle User"))
    props = create["ResourceProperties"]
    del props["CredentialsSecretArn"]
    props["FederatedClientId"] = emulator.client_id

    started = lam.call("on_event", create)

    (app,) = emulator.applications()
    assert started["PhysicalResourceId"] == app["id"]
    assert [call.status for call in sts.calls()] == [200]
