"""Text from outside is printed with its control characters shown, never obeyed."""

from __future__ import annotations

import io

from rich.console import Console

from mobile_sso.findings_table import print_findings
from mobile_sso.terminal import is_visible, markup_safe, visible


def test_escape_sequences_are_shown_not_obeyed() -> None:
    assert visible("bad\x1b[2Jthing") == "bad\\x1b[2Jthing"


def test_c1_controls_and_delete_are_shown() -> None:
    assert visible("a\x9bb\x7fc") == "a\\x9bb\\x7fc"


def test_bidirectional_overrides_are_shown() -> None:
    assert visible("user\u202egnp.exe") == "user\\u202egnp.exe"


def test_newlines_are_escaped_unless_kept() -> None:
    assert visible("a\nb") == "a\\x0ab"
    assert visible("a\nb\r", keep_newlines=True) == "a\nb\\x0d"


def test_ordinary_unicode_is_left_alone() -> None:
    assert visible("Zoë Ünal — 東京") == "Zoë Ünal — 東京"


def test_rich_markup_in_outside_text_is_printed_literally() -> None:
    out = io.StringIO()
    Console(file=out, force_terminal=False).print(markup_safe("[green]Signed in\x1b]0;owned\x07"))

    printed = out.getvalue()
    assert "[green]Signed in" in printed
    assert "\x1b]0;" not in printed
    assert "\\x1b]0;owned\\x07" in printed


def test_is_visible_tells_safe_text_from_unsafe() -> None:
    assert is_visible("plain text, 東京")
    assert not is_visible("bell\x07")
    assert not is_visible("zero\u200bwidth")


def test_findings_tables_show_control_characters_from_outside_text() -> None:
    out = io.StringIO()
    print_findings(
        Console(file=out, force_terminal=True, width=200),
        [
            {
                "category": "entra_app",
                "severity": "error",
                "message": "Graph said: \x1b]0;owned\x07 done",
                "fix": "check\x1b[2J it",
            }
        ],
    )

    printed = out.getvalue()
    assert "\x1b]0;" not in printed
    assert "\x1b[2J" not in printed
    assert "\\x1b]0;owned\\x07" in printed
