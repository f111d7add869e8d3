"""Text that came from the network or from a file, made safe to print on a terminal.

A SAML response, a HAR capture, a redirect's `error_description` or a Graph answer is written
by somebody else. Printed as it is, an ESC sequence in it can clear the screen, move the
cursor, set the window title or forge coloured text, and Rich markup in it (`[green]`) is
styled by Rich. `visible` makes every control character show as an escape (`\\x1b`); `markup_safe`
also escapes Rich markup, for text that goes into a Rich table or `console.print`.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidirectional overrides and isolates, zero-width characters): Trojan Source, CVE-2021-42574.
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control and invisible formatting character shown as an escape."""
    if keep_newlines:
        return "\n".join(_HIDDEN.sub(_escaped, line) for line in text.split("\n"))
    return _HIDDEN.sub(_escaped, text)


def markup_safe(text: str, *, keep_newlines: bool = False) -> str:
    """`visible(text)`, with Rich markup escaped too: for Rich tables and `console.print`."""
    return escape(visible(text, keep_newlines=keep_newlines))


def is_visible(text: str) -> bool:
    """True when printing `text` cannot move the cursor, restyle or hide anything."""
    return _HIDDEN.search(text) is None
