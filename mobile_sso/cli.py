"""`mobile-sso`: the command line of cognito-entra-sso."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mobile_sso.config import ConfigError, json_schema, load_config_file

app = typer.Typer(
    help="Cognito + Microsoft Entra ID single sign-on for mobile apps.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Check and describe environment config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


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


def main() -> None:
    """Console-script entry point."""
    app()
