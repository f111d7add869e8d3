"""Evidence for the bundle's pruning: the handler's test suite passes without what was pruned.

Runs tests/lambda_handler (every lifecycle path, error and retry paths, both credential
kinds) in this interpreter, with every module that the lock's distributions install here but
the built bundle (ENTRA_HANDLER_BUNDLE) lacks made unimportable, and with every read of a
distribution's RECORD file by handler code recorded. Passes when the suite passes, no pruned
module was even attempted, and the handler read no RECORD.

    .venv/bin/python bench/pruning_evidence.py [pytest args...]

Writes build/bench/pruning-evidence.json. The test environment is Python 3.11 with the same
pinned versions as the lock; tests/bundle runs the bundle itself in Python 3.13. The suite
runs in a child interpreter: building the bundle imports the CDK, which imports attrs.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import json
import re
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from importlib.metadata import distribution
from pathlib import Path, PurePosixPath
from types import FrameType, ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "lambda" / "entra_saml_app" / "requirements.lock"
HANDLER_DIR = str(REPO / "lambda" / "entra_saml_app")
SITE = sysconfig.get_paths()["purelib"]
OUT = REPO / "build" / "bench" / "pruning-evidence.json"
# tests/conftest.py (CDK synth fixtures) would import attrs through jsii: not the handler's.
DEFAULT_ARGS = [
    "-q",
    "-p",
    "no:cacheprovider",
    "--confcutdir",
    str(REPO / "tests" / "lambda_handler"),
    str(REPO / "tests" / "lambda_handler"),
]
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def module_names(paths: Iterable[PurePosixPath]) -> set[str]:
    """Importable names (packages included) of files given relative to a path entry."""
    names: set[str] = set()
    for path in paths:
        if path.parts[0] in ("..", "bin", "__pycache__") or "__pycache__" in path.parts:
            continue
        if any(part.endswith((".dist-info", ".data")) for part in path.parts):
            continue
        if path.suffix == ".py":
            parts = path.with_suffix("").parts
        elif path.suffix == ".so":
            parts = (*path.parts[:-1], path.name.split(".")[0])
        else:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.update(".".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return names


def lock_distributions() -> list[str]:
    lines = LOCK.read_text().splitlines()
    return [m.group(1) for line in lines if (m := _LOCK_LINE.match(line))]


def installed_here(names: Sequence[str]) -> set[str]:
    files: list[PurePosixPath] = []
    for name in names:
        files.extend(PurePosixPath(str(f)) for f in distribution(name).files or ())
    return module_names(files)


def shipped(bundle: Path) -> set[str]:
    return module_names(PurePosixPath(p.relative_to(bundle).as_posix()) for p in bundle.rglob("*"))


def _from_handler(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(HANDLER_DIR):
            return True
        frame = frame.f_back
    return False


class Pruned(importlib.abc.MetaPathFinder):
    """Makes the pruned modules unimportable from handler code, and remembers who tried.

    Test code (the emulator validates request bodies with the SDK's models) may import them;
    `guarded_import` then also catches handler code reaching such a module from the cache.
    """

    def __init__(self, pruned: set[str]) -> None:
        self.pruned = pruned
        self.attempts: dict[str, bool] = {}  # module -> handler code was on the stack
        self.record_reads: dict[str, bool] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        del path, target  # the name alone decides
        if fullname in self.pruned:
            by_handler = _from_handler(sys._getframe(1))
            self.attempts[fullname] = self.attempts.get(fullname, False) or by_handler
            if by_handler:
                raise ModuleNotFoundError(f"pruned from the bundle: {fullname}", name=fullname)
        return None

    def guarded_import(self, original: Any) -> Any:
        """`builtins.__import__` that also refuses cached pruned modules to handler code."""

        def guarded(
            name: str,
            globals_: dict[str, Any] | None = None,
            locals_: Any = None,
            fromlist: Sequence[str] = (),
            level: int = 0,
        ) -> Any:
            base = name
            if level and globals_:
                anchor = str(globals_.get("__package__") or "").split(".")
                anchor = anchor[: len(anchor) - level + 1]
                base = ".".join([*anchor, name] if name else anchor)
            wanted = {base, *(f"{base}.{item}" for item in fromlist or ())}
            hit = sorted(wanted & self.pruned)
            if hit and _from_handler(sys._getframe(1)):
                self.attempts[hit[0]] = True
                raise ModuleNotFoundError(f"pruned from the bundle: {hit[0]}", name=hit[0])
            return original(name, globals_, locals_, fromlist, level)

        return guarded

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        path = args[0] if event == "open" else None
        record = isinstance(path, str) and path.startswith(SITE) and path.endswith("/RECORD")
        if record and _from_handler(sys._getframe(1)):
            self.record_reads[str(path).removeprefix(SITE + "/")] = True


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE  # noqa: PLC0415

    bundle = ENTRA_HANDLER_BUNDLE.cached_build()
    distributions = lock_distributions()
    pruned = installed_here(distributions) - shipped(bundle)
    with tempfile.TemporaryDirectory() as scratch:
        plan = Path(scratch) / "plan.json"
        results = Path(scratch) / "results.json"
        plan.write_text(json.dumps(sorted(pruned)))
        child = [sys.executable, __file__, "--suite", str(plan), str(results), *argv]
        subprocess.run(child, cwd=REPO, check=False)  # noqa: S603 - this script, fixed args
        outcome: dict[str, Any] = json.loads(results.read_text())
    attempts: dict[str, bool] = outcome["import_attempts_of_pruned"]
    reads: list[str] = outcome["record_reads_by_handler"]
    status: int = outcome["pytest_status"]
    report = {
        "bundle": str(bundle),
        "lock_distributions": len(distributions),
        "modules_pruned": len(pruned),
        "pruned_roots": sorted({n for n in pruned if n.rpartition(".")[0] not in pruned}),
        **outcome,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1))
    models = sum(".generated.models." in name for name in pruned)
    print(f"\nbundle: {bundle}")
    print(f"modules of the {len(distributions)} locked distributions absent from the bundle")
    print(f"  and unimportable during the run: {len(pruned)} ({models} msgraph models)")
    by_handler = sorted(name for name, handler in attempts.items() if handler)
    by_tests = sorted(name for name, handler in attempts.items() if not handler)
    print(f"import attempts of pruned modules by handler code: {len(by_handler)}")
    for name in by_handler:
        print(f"  {name}")
    print(f"pruned modules test code imported (allowed; the emulator's models): {len(by_tests)}")
    print(f"RECORD files read by handler code: {len(reads)}")
    print(f"pytest exit status: {status}; wrote {OUT.relative_to(REPO)}")
    return 1 if status or by_handler or reads else 0


def run_suite(plan: Path, results: Path, argv: list[str]) -> None:
    """In the child: the suite with the pruned modules unimportable."""
    pruned = set(json.loads(plan.read_text()))
    already = sorted(name for name in pruned if name in sys.modules)
    if already:
        raise SystemExit(f"imported before the check started: {already[:10]}")
    finder = Pruned(pruned)
    sys.meta_path.insert(0, finder)
    builtins.__import__ = finder.guarded_import(builtins.__import__)
    sys.addaudithook(finder.audit)
    status = int(pytest.main(argv or DEFAULT_ARGS))
    outcome = {
        "python": sys.version.split()[0],
        "pytest_args": argv or DEFAULT_ARGS,
        "pytest_status": status,
        "import_attempts_of_pruned": finder.attempts,
        "record_reads_by_handler": sorted(finder.record_reads),
    }
    results.write_text(json.dumps(outcome))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--suite"]:
        run_suite(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
    else:
        raise SystemExit(main(sys.argv[1:]))
