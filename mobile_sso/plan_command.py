"""`mobile-sso plan`: what a change to an environment does to the people signing in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mobile_sso.cli_common import ConfigDirOption, ConfigFileOption, load_environment
from mobile_sso.plan import (
    Plan,
    PlanError,
    StackNotDeployed,
    TemplateReader,
    Verdict,
    compare,
    deployed_template,
    markdown,
    read_template,
)
from mobile_sso.terminal import markup_safe

STYLE = {Verdict.BREAKING: "bold red", Verdict.REVIEW: "yellow", Verdict.SAFE: "green"}


def cloudformation_reader(region: str) -> TemplateReader:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 - a slow import

    reader: TemplateReader = boto3.client("cloudformation", region_name=region)
    return reader


def plan_command(
    *,
    env: Annotated[
        str,
        typer.Option("--env", help="The environment: config/<env>.yaml.", show_default=False),
    ],
    base: Annotated[
        Path | None,
        typer.Option(
            "--base",
            metavar="PATH",
            help="Compare with this template file or cloud assembly (cdk.out of the base "
            "branch) instead of the deployed stack (CloudFormation GetTemplate).",
            show_default=False,
        ),
    ] = None,
    head: Annotated[
        Path,
        typer.Option(
            "--head",
            metavar="PATH",
            help="The new template file or cloud assembly (make synth ENV=<env> writes cdk.out).",
        ),
    ] = Path("cdk.out"),
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            metavar="TITLE",
            help="Acknowledge a breaking change by its title (as printed); repeatable. The "
            "environment's accept_breaking list does the same, reviewably, in the config.",
            show_default=False,
        ),
    ] = None,
    markdown_out: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            metavar="FILE",
            help="Also write the plan as a pull-request comment (Markdown) to FILE.",
            show_default=False,
        ),
    ] = None,
    diff_file: Annotated[
        Path | None,
        typer.Option(
            "--diff-file",
            metavar="FILE",
            help="A `cdk diff` to include, collapsed, in the --markdown comment.",
            show_default=False,
        ),
    ] = None,
    new_stack_ok: Annotated[
        bool,
        typer.Option(
            "--new-stack-ok",
            help="A stack that is not deployed yet is compared with an empty template "
            "(a first deploy) instead of being an error.",
        ),
    ] = False,
    show_safe: Annotated[
        bool, typer.Option("--show-safe", help="List the safe changes too, not only their count.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON on standard output.")
    ] = False,
    config_file: ConfigFileOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Compare the new template with the deployed (or a base) one, with a verdict per change.

    breaking: people lose something (users become new users, released apps stop signing in,
    or the deploy fails half-way); review: sign-in keeps working but what users see or may
    do changes; safe: nobody signing in notices. Exit code 0 without unacknowledged breaking
    changes, 1 with them, 2 on bad usage or an unreadable template.

    Example: make synth ENV=prod && mobile-sso plan --env prod
    """
    config = load_environment(env, config_file, config_dir=config_dir)
    accepted = [*config.accept_breaking, *(accept or [])]
    try:
        new = read_template(head, config.stack_name)
        if base is not None:
            old = read_template(base, config.stack_name)
        else:
            try:
                old = deployed_template(config.stack_name, cloudformation_reader(config.region))
            except StackNotDeployed:
                if not new_stack_ok:
                    raise
                old = {"Resources": {}}
        plan = compare(old, new, accepted)
    except PlanError as error:
        if as_json:
            typer.echo(json.dumps({"error": str(error)}, indent=2))
        else:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if markdown_out is not None:
        try:
            diff = diff_file.read_text(errors="replace") if diff_file is not None else None
            markdown_out.write_text(markdown(plan, env, diff), encoding="utf-8")
        except OSError as error:
            typer.echo(f"error: {error.filename}: {error.strerror}", err=True)
            raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(json.dumps(plan.as_json(), indent=2))
    else:
        _print(plan, config.stack_name, show_safe=show_safe)
    raise typer.Exit(code=1 if plan.unacknowledged_breaking else 0)


def _print(plan: Plan, stack: str, *, show_safe: bool) -> None:
    from rich.console import Console  # noqa: PLC0415 - a slow import
    from rich.table import Table  # noqa: PLC0415

    console = Console(highlight=False)
    if not plan.changes:
        console.print(f"{stack}: no changes.")
        return
    shown = [c for c in plan.changes if show_safe or c.verdict is not Verdict.SAFE]
    table = Table(title=f"{stack}: {len(plan.changes)} change(s)", show_lines=True)
    table.add_column("Verdict")
    table.add_column("Change")
    table.add_column("What it means")
    for change in shown:
        verdict = str(change.verdict) + (" (acknowledged)" if change.acknowledged else "")
        table.add_row(
            f"[{STYLE[change.verdict]}]{verdict}[/]",
            markup_safe(change.title),
            markup_safe(change.explanation) + f"\n[dim]source: {markup_safe(change.source)}[/]",
        )
    if shown:
        console.print(table)
    hidden = len(plan.changes) - len(shown)
    if hidden:
        console.print(f"{hidden} safe change(s) not shown (--show-safe lists them).")
    for title in plan.acknowledgments_used:
        console.print(f"acknowledged: {markup_safe(title)}")
    for title in plan.acknowledgments_unused:
        console.print(f"[yellow]unused acknowledgment[/] (no such breaking change): {title!r}")
    breaking = plan.unacknowledged_breaking
    if breaking:
        console.print(
            f"[bold red]{len(breaking)} breaking change(s)[/]. Avoid them, or acknowledge "
            "each by its title in the environment's accept_breaking list."
        )
