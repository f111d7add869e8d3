"""Every relative link and anchor in the repository's Markdown resolves: the file exists,
and a `#fragment` names a heading of the target as GitHub renders it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The documents a reader follows links through (not fixtures or vendored files)."""
    candidates = [root / "README.md", root / "SECURITY.md", root / "CONTRIBUTING.md"]
    candidates += sorted((root / "docs").glob("*.md")) + sorted((root / "bench").glob("*.md"))
    return [path for path in candidates if path.is_file()]


# -- reading Markdown ----------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
_INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML_TARGET = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""")
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with code spans blanked out."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None:
            closing = _FENCE.match(line)
            if (
                closing
                and closing.group(1)[0] == fence[0]
                and len(closing.group(1)) >= len(fence)
                and not line.strip().lstrip(fence[0])  # a closing fence has no info string
            ):
                fence = None
        else:
            lines.append((number, _CODE_SPAN.sub(lambda span: " " * len(span[0]), line)))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text lowercased, every character that
    is not a letter, digit, `_`, `-` or space dropped, then each space made a hyphen."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text stays
    kept = []
    for char in text.lower():
        category = unicodedata.category(char)
        if category[0] in "LNM" or char in "_- ":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every fragment a link into this document may name: heading slugs, numbered -1, -2
    when a slug repeats, and explicit `<a name=…>` / `id=…` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(text):
        heading = _ATX.match(line)
        if heading:
            slug = github_slug(heading.group(2) or "")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
        found.update(_HTML_ANCHOR.findall(line))
    return found


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str


def relative_links(path: Path) -> list[Link]:
    """Links in `path` that stay in the repository (no scheme such as https: or mailto:)."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        targets = _INLINE_LINK.findall(line) + _HTML_TARGET.findall(line)
        reference = _REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
        found += [
            Link(path, number, target)
            for target in targets
            if target and not _SCHEME.match(target) and not target.startswith("//")
        ]
    return found


def broken(link: Link, root: Path = ROOT) -> str | None:
    """Why `link` does not resolve, or None when it does."""
    root, source = root.resolve(), link.source.resolve()
    where = f"{source.relative_to(root)}:{link.line}: {link.target}"
    path_part, _, fragment = link.target.partition("#")
    path_part = path_part.split("?", 1)[0]
    target = (source.parent / path_part).resolve() if path_part else source
    if not target.is_relative_to(root):
        return f"{where}: points outside the repository"
    if not target.exists():
        return f"{where}: no such file"
    if not fragment:
        return None
    if target.suffix.lower() == ".md":
        found = fragment in anchors(target.read_text(encoding="utf-8"))
    else:  # GitHub's line anchors on a source file
        found = target.is_file() and re.fullmatch(r"L\d+(-L\d+)?", fragment) is not None
    if found:
        return None
    return f"{where}: {target.relative_to(root)} has no heading with the anchor #{fragment}"


# -- the repository -----------------------------------------------------------------------


def test_the_front_door_and_the_docs_are_checked() -> None:
    checked = {path.relative_to(ROOT).as_posix() for path in markdown_files()}

    assert {"README.md", "SECURITY.md"} <= checked
    assert any(name.startswith("docs/") for name in checked)


def test_every_relative_link_and_anchor_resolves() -> None:
    links = [link for path in markdown_files() for link in relative_links(path)]

    assert links, "no relative link found: the extraction, not the docs, is likely broken"
    assert [reason for link in links if (reason := broken(link))] == []


# -- the checker itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Quick start", "quick-start"),
        ("When sign-in fails: doctor", "when-sign-in-fails-doctor"),
        ("mobile-sso plan: `prod`", "mobile-sso-plan-prod"),
        (
            "Why no client secret (and no implicit grant)?",
            "why-no-client-secret-and-no-implicit-grant",
        ),
        ("Groups in tokens & B2B", "groups-in-tokens--b2b"),
        ("snake_case stays", "snake_case-stays"),
        ("A [linked](https://example.com) word", "a-linked-word"),
        ("Réglages", "réglages"),
    ],
)
def test_headings_get_githubs_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_repeated_headings_are_numbered_and_code_blocks_hold_none() -> None:
    text = "# Setup\n\n## Setup\n\n```bash\n# not a heading\n```\n\n### Setup\n"

    assert anchors(text) == {"setup", "setup-1", "setup-2"}


def test_links_in_code_and_to_the_web_are_not_checked(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "[web](https://example.com/x.md) [mail](mailto:a@example.com) `[code](gone.md)`\n"
        "```\n[fenced](gone.md)\n```\n[here](#top) [ref]: other.md#part\n"
        '<a href="img/logo.png">logo</a>\n',
        encoding="utf-8",
    )

    assert [link.target for link in relative_links(page)] == ["#top", "img/logo.png"]


def test_a_missing_file_and_an_unknown_anchor_are_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Install\n\n## Install\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[a](guide.md#install-1) [b](guide.md#install-2) [c](gone.md) [d](#nowhere)\n"
        "[e](guide.md)\n\n[ref]: guide.md#install\n",
        encoding="utf-8",
    )

    reasons = [broken(link, tmp_path) for link in relative_links(page)]

    assert reasons == [
        None,
        "page.md:1: guide.md#install-2: guide.md has no heading with the anchor #install-2",
        "page.md:1: gone.md: no such file",
        "page.md:1: #nowhere: page.md has no heading with the anchor #nowhere",
        None,
        None,
    ]


def test_the_readme_is_a_front_door_of_at_most_12_kb() -> None:
    readme = ROOT / "README.md"
    assert readme.stat().st_size <= 12 * 1024, "move reference material into docs/"
    assert "## Quick start" in readme.read_text()
