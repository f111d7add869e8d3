"""`mobile-sso config validate` and `mobile-sso config schema`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from mobile_sso.cli import app
from tests.conftest import REPO

runner = CliRunner()
EXAMPLE = REPO / "config" / "example.yaml"


def test_validate_accepts_the_example_with_exit_0() -> None:
    result = runner.invoke(app, ["config", "validate", str(EXAMPLE)])
    assert result.exit_code == 0
    assert "valid (stack MobileSso-Example, 2 app client(s))" in result.stdout


def test_validate_reports_file_key_value_and_rule_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "prod.yaml"
    bad.write_text(
        EXAMPLE.read_text().replace("prefix: mobile-sso-example-7f3a", "prefix: My_Pool")
    )
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert (
        f"{bad}: domain.prefix: 'My_Pool': a Cognito domain prefix is 1-63 characters of "
        "lowercase letters, digits and hyphens, and neither starts nor ends with a hyphen"
    ) in result.stderr


def test_validate_fails_when_any_of_several_files_is_invalid(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(EXAMPLE.read_text().replace("region:", "regoin:"))
    result = runner.invoke(app, ["config", "validate", str(EXAMPLE), str(bad)])
    assert result.exit_code == 1
    assert "regoin: unknown key; did you mean 'region'?" in result.stderr
    assert f"{EXAMPLE}: valid" in result.stdout


def test_validate_reports_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    result = runner.invoke(app, ["config", "validate", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}: cannot read the file: No such file or directory" in result.stderr


def test_validate_without_a_file_is_a_usage_error() -> None:
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2


def test_published_schema_matches_the_model() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    published = (REPO / "config" / "schema.json").read_text()
    assert result.stdout == published, "run `make schema` and commit config/schema.json"


def test_example_config_validates_against_the_published_schema() -> None:
    schema = json.loads((REPO / "config" / "schema.json").read_text())
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), schema)


def test_published_schema_refuses_unknown_keys() -> None:
    schema = json.loads((REPO / "config" / "schema.json").read_text())
    data = yaml.safe_load(EXAMPLE.read_text())
    data["clients"][0]["callback_url"] = ["myapp://cb"]
    validator = jsonschema.Draft202012Validator(schema)
    errors = [e.message for e in validator.iter_errors(data)]
    assert any("callback_url" in message for message in errors)
