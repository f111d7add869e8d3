"""What the commands that work on one deployed environment share: the `--config`,
`--config-dir` and `--outputs-file` options, loading the config, and finding the stack's
outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mobile_sso.config import (
    CONFIG_DIR_OPTION,
    CONFIG_DIR_VARIABLE,
    ConfigError,
    EntraTenant,
    EnvironmentConfig,
    load_config,
    load_config_file,
)
from mobile_sso.entra_graph import (
    CredentialSource,
    DeployerSecret,
    deployer_secret_location,
    read_deployer_secret,
)
from mobile_sso.export import (
    ExportError,
    cloudformation_client,
    outputs_from_cloudformation,
    outputs_from_file,
)

if TYPE_CHECKING:
    from mobile_sso.saml_check import UnreadableMetadata

ConfigFileOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Read the environment's config from FILE instead of config/<env>.yaml.",
        show_default=False,
    ),
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        CONFIG_DIR_OPTION,
        metavar="DIR",
        help=f"Read <env>.yaml from DIR. Default: the directory named by {CONFIG_DIR_VARIABLE}, "
        "else ./config if it exists, else the repository's config/.",
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
    env: str,
    path: Path | None,
    *,
    config_dir: Path | None = None,
    bootstrapping: bool = False,
) -> EnvironmentConfig:
    """The environment's config: the file `path` when given, else `<env>.yaml` from the
    config directory (`config_dir`, see `find_config_dir`); a bad one is bad usage."""
    if path is not None and config_dir is not None:
        raise typer.BadParameter(
            f"give the file (--config) or its directory ({CONFIG_DIR_OPTION}), not both",
            param_hint="--config",
        )
    try:
        if path is None:
            return load_config(env, config_dir, bootstrapping=bootstrapping)
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


def metadata_fetcher(agent: str) -> Callable[[str], bytes | UnreadableMetadata]:
    """Fetches a federation metadata URL as Cognito would, trusting the CA bundle the
    environment names (REQUESTS_CA_BUNDLE or SSL_CERT_FILE) when it names one: https only
    (plain http to loopback only), no redirect to another scheme or host, at most
    MAX_DOCUMENT_BYTES + 1 bytes (`check_response.fetch_metadata`)."""
    import ssl  # noqa: PLC0415

    from mobile_sso.check_response import fetch_metadata  # noqa: PLC0415 (XML libraries)
    from mobile_sso.entra_graph import ca_bundle  # noqa: PLC0415

    bundle = ca_bundle()
    tls = ssl.create_default_context(cafile=bundle) if bundle else None

    def fetch(url: str) -> bytes | UnreadableMetadata:
        return fetch_metadata(url, tls=tls, agent=agent)

    return fetch


def entra_credential_source(
    choice: CredentialSource | None, tenant: EntraTenant
) -> CredentialSource:
    """`--entra-credentials` as given, else what the tenant has: its deployer secret, or,
    for a tenant signed in with federation (its deployer has no secret outside the stack's
    handler role), the user's `az login`."""
    if choice is not None:
        return choice
    return CredentialSource.SECRET if tenant.federation is None else CredentialSource.CLI


def deployer_secret_reader(
    config: EnvironmentConfig, tenant: EntraTenant
) -> Callable[[], DeployerSecret]:
    """Reads the tenant's deployer secret from Secrets Manager when called."""

    def deployer() -> DeployerSecret:
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (slow import)

        reference, region = deployer_secret_location(
            tenant.tenant_id, tenant.credentials_secret, config.region
        )
        return read_deployer_secret(reference, boto3.client("secretsmanager", region_name=region))

    return deployer
