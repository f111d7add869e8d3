"""What the commands that work on one deployed environment share: the `--config` and
`--outputs-file` options, loading the config, and finding the stack's outputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from mobile_sso.config import ConfigError, EnvironmentConfig, load_config, load_config_file
from mobile_sso.export import (
    ExportError,
    cloudformation_client,
    outputs_from_cloudformation,
    outputs_from_file,
)

ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Read the environment's config from FILE instead of config/<env>.yaml.",
        show_default=False,
    ),
]
OutputsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--outputs-file",
        metavar="FILE",
        help="JSON written by `cdk deploy --outputs-file`. Default: cdk-outputs-<env>.json "
        "if present, else the stack's outputs from CloudFormation (DescribeStacks).",
        show_default=False,
    ),
]


def load_environment(
    env: str, path: Path | None, *, bootstrapping: bool = False
) -> EnvironmentConfig:
    """The environment's config (from `path` when given); a bad one is bad usage."""
    try:
        if path is None:
            return load_config(env, bootstrapping=bootstrapping)
        return load_config_file(path, bootstrapping=bootstrapping)
    except ConfigError as error:
        option = "--env" if path is None else "--config"
        raise typer.BadParameter(str(error), param_hint=option) from None


def stack_outputs(env: str, config: EnvironmentConfig, path: Path | None) -> Mapping[str, str]:
    """The stack's outputs: from the file given (a bad one is bad usage), the default file
    if present, else CloudFormation (whose failure raises ExportError: the deployment's
    state, which each command reports in its own way)."""
    default = Path(f"cdk-outputs-{env}.json")
    if path is None and default.is_file():
        path = default
    if path is None:
        return outputs_from_cloudformation(config.stack_name, cloudformation_client(config.region))
    try:
        return outputs_from_file(path, config.stack_name)
    except ExportError as error:
        raise typer.BadParameter(str(error), param_hint="--outputs-file") from None
