"""The README's first command: the CDK CLI synthesizes the example offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def cdk_synth(env_name: str, outdir: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """`npx cdk synth -c env=NAME` as a user runs it, with every AWS credential hidden (and
    the environment `variables` added)."""
    npx = shutil.which("npx")
    if npx is None or not (REPO / "node_modules" / "aws-cdk").is_dir():
        pytest.fail("the CDK CLI is not installed: run `make install`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        **variables,
    }
    command = [npx, "--no-install", "cdk", "synth", "--no-notices", "--quiet"]
    return subprocess.run(  # noqa: S603 - fixed arguments
        [*command, "-c", f"env={env_name}", "-o", str(outdir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def example_synth(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One CLI synth of the example for the tests that read its output."""
    outdir = tmp_path_factory.mktemp("synth") / "cdk.out"
    return cdk_synth("example", outdir), outdir


@pytest.mark.synth
def test_cdk_cli_synthesizes_the_example_without_credentials(
    example_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, outdir = example_synth
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((outdir / "MobileSso-Example.template.json").read_text())
    assert "UserPool335E89E8" in template["Resources"]


@pytest.mark.synth
def test_cdk_cli_finds_no_feature_flag_left_unconfigured(
    example_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = example_synth
    assert "feature flags are not configured" not in result.stdout + result.stderr


@pytest.mark.synth
def test_cdk_cli_refuses_an_invalid_config_with_its_message(tmp_path: Path) -> None:
    result = cdk_synth("nosuchenv", tmp_path / "cdk.out")
    assert result.returncode != 0
    assert "nosuchenv.yaml: no such environment file; environments here: ['example'" in (
        result.stderr
    )


@pytest.mark.synth
def test_cdk_cli_reads_the_config_directory_the_variable_names(tmp_path: Path) -> None:
    named = tmp_path / "configs"
    named.mkdir()
    text = (REPO / "config" / "example.yaml").read_text()
    (named / "staging.yaml").write_text(text.replace("MobileSso-Example", "MobileSso-Staging"))
    result = cdk_synth("staging", tmp_path / "cdk.out", MOBILE_SSO_CONFIG_DIR=str(named))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "cdk.out" / "MobileSso-Staging.template.json").is_file()
