"""docs/FIDELITY.md, the ledger of provider contracts, names real sources and real tests."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO

LEDGER = REPO / "docs" / "FIDELITY.md"
STATUSES = {"confirmed", "inferred", "unverified"}
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
SOURCE = re.compile(r"https://\S+|\b[\w.-]+/[\w.-]+:[\w./-]+|\b[\w.-]+/[\w.-]+/[\w./-]+")


@dataclass(frozen=True)
class Row:
    line: int
    contract: str
    source: str
    tests: str
    status: str
    note: str


def ledger_rows() -> list[Row]:
    rows = []
    for number, line in enumerate(LEDGER.read_text().splitlines(), start=1):
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| Contract"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"FIDELITY.md:{number}: expected 5 cells, got {len(cells)}"
        rows.append(Row(number, *cells))
    return rows


@cache
def defined_tests(path: str) -> frozenset[str]:
    """`name` and `Class::name` for every test function defined in a test file."""
    tree = ast.parse((REPO / path).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(names)


def test_every_row_has_a_status_from_the_legend() -> None:
    rows = ledger_rows()
    assert rows, "the ledger has no rows"
    bad = [
        f"line {row.line}: {row.status!r}" for row in rows if row.status.strip("`") not in STATUSES
    ]
    assert not bad, bad


def test_every_row_names_a_public_source() -> None:
    rows = ledger_rows()
    assert rows
    bad = [f"line {row.line}: {row.source!r}" for row in rows if not SOURCE.search(row.source)]
    assert not bad, bad


def test_every_confirmed_or_inferred_row_is_pinned_by_a_test() -> None:
    rows = [row for row in ledger_rows() if row.status.strip("`") != "unverified"]
    assert rows
    bad = [
        f"line {row.line}: {row.contract[:60]}" for row in rows if not TEST_REF.search(row.tests)
    ]
    assert not bad, bad


def test_every_unverified_row_says_what_would_settle_it() -> None:
    bad = [
        f"line {row.line}: {row.contract[:60]}"
        for row in ledger_rows()
        if row.status.strip("`") == "unverified" and len(row.note) < 20
    ]
    assert not bad, bad


@pytest.mark.parametrize("row", ledger_rows(), ids=lambda row: f"line{row.line}")
def test_every_test_the_ledger_names_exists(row: Row) -> None:
    for path, name in TEST_REF.findall(row.tests):
        assert Path(REPO / path).is_file(), f"FIDELITY.md:{row.line}: no file {path}"
        assert name in defined_tests(path), f"FIDELITY.md:{row.line}: no test {path}::{name}"
