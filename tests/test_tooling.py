"""The project's own tooling: pinned CDK CLI, linted workflows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import REPO


def test_cdk_cli_is_pinned_to_an_exact_v2_release() -> None:
    package = json.loads((REPO / "package.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    pinned = package["devDependencies"]["aws-cdk"]
    assert pinned.split(".")[0] == "2", "aws-cdk@3 is a deprecated release; stay on v2"
    assert pinned.replace(".", "").isdigit(), f"pin an exact version, not {pinned!r}"
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == pinned


WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# What each job may ask of GITHUB_TOKEN and GitHub's OIDC provider, and no more.
JOB_PERMISSIONS = {
    ("pull-request.yml", "gate"): {"contents": "read"},
    ("pull-request.yml", "plan"): {
        "contents": "read",
        "pull-requests": "write",  # the plan comment
        "id-token": "write",  # the optional read-only plan role
    },
    ("deploy.yml", "deploy"): {"contents": "read", "id-token": "write"},
}


def workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return document


def test_workflows_grant_only_read_access_by_default() -> None:
    assert WORKFLOWS
    for path in WORKFLOWS:
        assert workflow(path.name)["permissions"] == {"contents": "read"}, path.name


def test_each_job_asks_only_for_the_permissions_it_needs() -> None:
    jobs = {
        (path.name, job): spec.get("permissions", {"contents": "read"})
        for path in WORKFLOWS
        for job, spec in workflow(path.name)["jobs"].items()
    }
    assert jobs == JOB_PERMISSIONS


def test_deploys_run_one_environment_at_a_time_behind_its_protection_rules() -> None:
    job = workflow("deploy.yml")["jobs"]["deploy"]
    assert job["strategy"]["max-parallel"] == 1
    assert job["strategy"]["fail-fast"] is True
    assert job["environment"] == "${{ matrix.environment }}"
    steps = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    assert steps.index("Re-check the plan against the deployed stack") < steps.index("Deploy")


def test_github_workflows_pass_actionlint() -> None:
    npx = shutil.which("npx")
    if npx is None or not (REPO / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `make install`")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [npx, "--no-install", "node-actionlint", ".github/workflows/*.yml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in result.stdout


def cdk_cli_telemetry_status(env: dict[str, str]) -> str:
    npx = shutil.which("npx")
    if npx is None or not (REPO / "node_modules" / "aws-cdk").is_dir():
        pytest.fail("the CDK CLI is not installed: run `make install`")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [npx, "--no-install", "cdk", "cli-telemetry", "--status"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result.stdout + result.stderr


def test_the_makefile_turns_the_cdk_clis_telemetry_off() -> None:
    make = shutil.which("make")
    assert make is not None
    env = {k: v for k, v in os.environ.items() if k != "CDK_DISABLE_CLI_TELEMETRY"}
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            make,
            "-s",
            "--eval",
            "telemetry-env: ; @echo $$CDK_DISABLE_CLI_TELEMETRY",
            "telemetry-env",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    exported = result.stdout.strip()

    assert "Telemetry is disabled" in cdk_cli_telemetry_status(
        env | {"CDK_DISABLE_CLI_TELEMETRY": exported}
    )
