"""`mobile-sso`: the command line of cognito-entra-sso."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mobile_sso.bootstrap_command import bootstrap_entra_command
from mobile_sso.check_response import check_response_command
from mobile_sso.config import ConfigError, json_schema, load_config_file
from mobile_sso.doctor import doctor_command
from mobile_sso.export import (
    ExportError,
    ExportFormat,
    cloudformation_client,
    outputs_from_cloudformation,
    outputs_from_file,
    render,
)
from mobile_sso.plan_command import plan_command
from mobile_sso.rotate_certificate import rotate_certificate_command
from mobile_sso.try_signin_cli import try_signin_command

app = typer.Typer(
    help="Cognito + Microsoft Entra ID single sign-on for mobile apps.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Check and describe environment config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.command("check-response")(check_response_command)
app.command("doctor")(doctor_command)
app.command("rotate-certificate")(rotate_certificate_command)
app.command("bootstrap-entra")(bootstrap_entra_command)
app.command("try-signin")(try_signin_command)
app.command("plan")(plan_command)


@config_app.command("validate")
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Config files to check, e.g. config/prod.yaml", show_default=False),
    ],
) -> None:
    """Check config files against every rule that synth applies.

    Exit code 0 when all are valid, 1 when any is not; each problem is printed as
    FILE: KEY.PATH: VALUE: RULE.

    Example: mobile-sso config validate config/*.yaml
    """
    failed = False
    for path in files:
        try:
            config = load_config_file(path)
        except ConfigError as error:
            failed = True
            for problem in error.problems:
                typer.echo(f"{error.path}: {problem}", err=True)
            continue
        typer.echo(
            f"{path}: valid (stack {config.stack_name}, {len(config.clients)} app client(s))"
        )
    if failed:
        raise typer.Exit(code=1)


@config_app.command("schema")
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Print the JSON Schema of config files (the one published as config/schema.json)."""
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("export")
def export_config(
    *,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="amplify-outputs (Amplify Gen 2 amplify_outputs.json; also React Native), "
            "amplify-dart (Amplify Gen 2 lib/amplify_outputs.dart, for Flutter), "
            "amplifyconfiguration (Amplify Gen 1), awsconfiguration (AWSMobileClient), "
            "env (KEY=VALUE for the shell, dotenv, gradle.properties) or xcconfig (Xcode).",
            show_default=False,
        ),
    ],
    outputs_file: Annotated[
        Path | None,
        typer.Option(
            "--outputs-file",
            help="Read the file `cdk deploy --outputs-file` wrote (make deploy: "
            "cdk-outputs-ENV.json) instead of CloudFormation.",
        ),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            help="Stack name: read its outputs from CloudFormation (needs AWS credentials), "
            "or pick it in an --outputs-file that holds several.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="AWS region of --stack (default: your AWS config's)."),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("--client", help="App client name; required when there are several."),
    ] = None,
    identity_provider: Annotated[
        str | None,
        typer.Option(
            "--identity-provider",
            help="The SAML identity provider apps sign in with, when the client offers several.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Write a mobile build config for one app client from the stack's outputs.

    The outputs come from a `cdk deploy --outputs-file` file or, with --stack alone, from
    CloudFormation. No format ever carries a client secret. Warnings and hints go to
    standard error; a problem exits 1 with a message that names what to fix.

    Example: mobile-sso export --outputs-file cdk-outputs-prod.json --client ios
    --format amplify-outputs --out ios/MyApp/amplify_outputs.json
    """
    if outputs_file is not None and region is not None:
        raise typer.BadParameter("--region applies only when reading from CloudFormation")
    try:
        if outputs_file is not None:
            found = outputs_from_file(outputs_file, stack)
        elif stack is not None:
            found = outputs_from_cloudformation(stack, cloudformation_client(region))
        else:
            raise typer.BadParameter("give --outputs-file PATH or --stack NAME")
        result = render(fmt, found, client=client, identity_provider=identity_provider)
    except ExportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None
    for note in result.notes:
        typer.echo(note, err=True)
    if out is None:
        typer.echo(result.text, nl=False)
        return
    try:
        out.write_text(result.text, encoding="utf-8")
    except OSError as error:
        typer.echo(f"error: {out}: cannot write the file: {error.strerror}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"{out}: written ({fmt})", err=True)


def main() -> None:
    """Console-script entry point."""
    app()
