"""The test gate's wall time (`make test`: ruff, mypy --strict, pytest), step by step.

Usage: .venv/bin/python bench/test_gate_time.py [--slowest N]

Runs the same steps as `make test` (lint: ruff check + ruff format --check; typecheck:
mypy; pytest, here with --durations=N), with the Makefile's environment, from the
repository root, one after the other, and prints each step's wall time, its share of the
total, and pytest's N slowest test phases. Target: total < 600 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
TARGET_SECONDS = 600.0
MAKE_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    returncode: int
    output: str


def run(name: str, *command: str) -> Step:
    env = dict(os.environ, **MAKE_ENV)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - fixed arguments
        list(command), cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    return Step(name, seconds, done.returncode, done.stdout + done.stderr)


def slowest(output: str) -> list[str]:
    """The lines of pytest's 'slowest durations' section."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if "slowest" in line and "durations" in line:
            section: list[str] = []
            for entry in lines[index + 1 :]:
                if not re.match(r"^\s*[\d.]+s\s", entry):
                    if section:
                        break
                    continue
                section.append(entry.strip())
            return section
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slowest", type=int, default=15, help="pytest --durations (15)")
    args = parser.parse_args()

    print(f"CPUs: {os.cpu_count()}; target: total < {TARGET_SECONDS:.0f} s")
    steps: list[Step] = []
    for name, command in (
        ("ruff check", (str(BIN / "ruff"), "check", ".")),
        ("ruff format --check", (str(BIN / "ruff"), "format", "--check", ".")),
        ("mypy", (str(BIN / "mypy"),)),
        ("pytest", (str(BIN / "pytest"), f"--durations={args.slowest}")),
    ):
        step = run(name, *command)
        steps.append(step)
        print(f"  {name:<22} {step.seconds:>8.1f} s  exit {step.returncode}", flush=True)

    total = sum(step.seconds for step in steps)
    print(f"\n{'step':<22} {'wall s':>8} {'share':>6}")
    for step in steps:
        print(f"{step.name:<22} {step.seconds:>8.1f} {step.seconds / total:>6.1%}")
    print(f"{'total':<22} {total:>8.1f}")

    pytest_step = steps[-1]
    summary = [line for line in pytest_step.output.splitlines() if re.search(r" in [\d.]+s", line)]
    if summary:
        print(f"\npytest: {summary[-1].strip('= ')}")
    print(f"\n{args.slowest} slowest test phases (pytest --durations):")
    for line in slowest(pytest_step.output):
        print(f"  {line}")

    failed = [step.name for step in steps if step.returncode != 0]
    if failed:
        print(f"\nfailing steps: {', '.join(failed)}")
        for step in steps:
            if step.returncode != 0:
                print(f"--- {step.name} (last lines) ---")
                print("\n".join(step.output.splitlines()[-30:]))
    ok = total < TARGET_SECONDS and not failed
    print(
        f"\ntotal {total:.1f} s vs target {TARGET_SECONDS:.0f} s "
        f"(ratio {total / TARGET_SECONDS:.2f}); gate green: {not failed}  "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
