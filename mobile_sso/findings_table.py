"""The findings table that `check-response` and `doctor` print for people.

Both commands emit findings as ``{"category", "severity", "message", "fix"}`` (the shape of
their ``--json``); this renders that shape with rich. Colour appears only on a terminal
(rich decides), and markup is off so that messages print exactly as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mobile_sso.terminal import visible


def console(*, stderr: bool = False) -> Console:
    """A console that prints text as written: no markup, emoji or highlighting."""
    return Console(highlight=False, markup=False, emoji=False, stderr=stderr)


def print_findings(out: Console, findings: Sequence[Mapping[str, str]]) -> None:
    """One row per finding, errors in red and warnings in yellow; nothing when empty."""
    if not findings:
        return
    table = Table(show_lines=True)
    table.add_column("Category", no_wrap=True)
    table.add_column("Severity", no_wrap=True)
    table.add_column("Message", ratio=1, overflow="fold")
    table.add_column("Fix", ratio=1, overflow="fold")
    for finding in findings:
        style = "bold red" if finding["severity"] == "error" else "yellow"
        table.add_row(
            Text(finding["category"]),
            Text(finding["severity"], style=style),
            # Findings quote what Graph, Cognito or a file said: controls are shown, not obeyed.
            Text(visible(finding["message"], keep_newlines=True)),
            Text(visible(finding["fix"], keep_newlines=True)),
        )
    out.print(table)
