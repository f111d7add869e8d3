"""Shared fixtures: configs and synthesized templates, built once per test module."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from mobile_sso.config import EnvironmentConfig, load_config, parse_config
from stacks.sso_stack import MobileSsoStack
from tests.doctor_deployment import deployment  # noqa: F401 - the doctor tests' fixture

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Every CDK CLI the tests start inherits this: no usage telemetry leaves the machine.
os.environ["CDK_DISABLE_CLI_TELEMETRY"] = "true"

REPO = Path(__file__).resolve().parent.parent


def data_of(config: EnvironmentConfig) -> dict[str, Any]:
    """A config as plain data (as a file would hold it), for tests that change values."""
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def example_data() -> dict[str, Any]:
    """The example environment as plain data, for tests that change one value."""
    return data_of(load_config("example"))


def make_config(**changes: Any) -> EnvironmentConfig:
    """The example config with top-level keys replaced."""
    data = example_data()
    data.update(changes)
    return parse_config(data, "test.yaml")


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so tests synthesize what the CLI synthesizes."""
    context: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]
    return context


def cdk_app(**kwargs: Any) -> cdk.App:
    """An app with cdk.json's context that skips asset bundling."""
    return cdk.App(
        context=cdk_json_context(),
        post_cli_context={"aws:cdk:bundling-stacks": []},
        **kwargs,
    )


def build_stack(config: EnvironmentConfig, app: cdk.App | None = None) -> MobileSsoStack:
    """The environment's stack, in a fresh app unless one is given."""
    app = app or cdk_app()
    return MobileSsoStack(
        app,
        config.stack_name,
        config=config,
        env=cdk.Environment(account=config.account, region=config.region),
    )


def template_of(config: EnvironmentConfig) -> Template:
    return Template.from_stack(build_stack(config))


@pytest.fixture(scope="session")
def example_template() -> Template:
    return template_of(load_config("example"))


@pytest.fixture(scope="module")
def multitenant() -> EnvironmentConfig:
    return load_config("example-multitenant")


@pytest.fixture(scope="module")
def multitenant_template(multitenant: EnvironmentConfig) -> Template:
    return template_of(multitenant)


@pytest.fixture
def config_with() -> Callable[..., EnvironmentConfig]:
    return make_config
