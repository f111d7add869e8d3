"""Synth time: the example environment against a bare one-pool CDK app, and tenant scaling.

Usage: .venv/bin/python bench/synth.py [--runs N]

Every figure is the median wall time of `npx cdk synth` (the CLI a user runs), measured in
this run, warm (second and later synths reuse the cached Lambda bundle and cdk.out).
Figures that are compared are measured interleaved, round by round (bare, example,
example, bare, ...), so a change in the machine's load falls on both sides of a ratio;
each ratio is printed with the spread of its per-round ratios.
Targets: example / bare <= 1.5; 50 tenants / 1 tenant <= 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
PYTHON = REPO / ".venv" / "bin" / "python"


NPX = shutil.which("npx") or "npx"


def synth_seconds(outdir: Path, *args: str, cache: Path | None = None) -> float:
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    if cache is not None:
        env["MOBILE_SSO_BUNDLE_CACHE"] = str(cache)
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            NPX,
            "--no-install",
            "cdk",
            "synth",
            "--quiet",
            "--no-notices",
            "-o",
            str(outdir),
            *args,
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


@dataclass(frozen=True)
class Figures:
    medians: dict[str, float]
    rounds: list[dict[str, float]]

    def ratio(self, numerator: str, denominator: str) -> tuple[float, float, float]:
        """The ratio of the medians, and the lowest and highest per-round ratio."""
        per_round = [r[numerator] / r[denominator] for r in self.rounds]
        return (
            self.medians[numerator] / self.medians[denominator],
            min(per_round),
            max(per_round),
        )


def interleaved(runs: int, variants: dict[str, tuple[Path, tuple[str, ...]]]) -> Figures:
    """Median warm synth time per variant, plus each round's times.

    One warm-up synth each (bundling and the first cdk.out), then `runs` rounds in which
    every variant synthesizes once; the order alternates between rounds so neither side
    of a ratio always runs first."""
    for outdir, args in variants.values():
        synth_seconds(outdir, *args)
    rounds: list[dict[str, float]] = []
    names = list(variants)
    for number in range(runs):
        order = names if number % 2 == 0 else names[::-1]
        rounds.append(
            {name: synth_seconds(variants[name][0], *variants[name][1]) for name in order}
        )
    medians = {name: statistics.median(r[name] for r in rounds) for name in names}
    return Figures(medians, rounds)


@contextmanager
def tenant_configs(counts: list[int]) -> Iterator[dict[int, str]]:
    """Temporary environments `bench-tenants-N` with N Entra tenants each."""
    example = yaml.safe_load((CONFIG_DIR / "example-multitenant.yaml").read_text())
    written: dict[int, str] = {}
    try:
        for count in counts:
            tenant = dict(example["entra"][1])
            config = dict(example)
            config["stack_name"] = f"Bench-{count}"
            config["entra"] = [
                dict(tenant, idp_name=f"Tenant{i:03d}", email_domains=[f"t{i}.example.com"])
                for i in range(count)
            ]
            config["clients"] = [
                {k: v for k, v in c.items() if k != "identity_providers"}
                for c in example["clients"]
            ]
            name = f"bench-tenants-{count}"
            (CONFIG_DIR / f"{name}.yaml").write_text(yaml.safe_dump(config))
            written[count] = name
        yield written
    finally:
        for name in written.values():
            (CONFIG_DIR / f"{name}.yaml").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    scratch = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        floor = interleaved(
            runs,
            {
                "bare": (scratch / "bare", ("--app", f"{PYTHON} bench/bare_app.py")),
                "example": (scratch / "example", ("-c", "env=example")),
            },
        )
        cold = synth_seconds(scratch / "cold", "-c", "env=example", cache=scratch / "cache")
        with tenant_configs([1, 10, 50]) as envs:
            tenants = interleaved(
                runs, {str(n): (scratch / env, ("-c", f"env={env}")) for n, env in envs.items()}
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"rounds: {runs} (interleaved, warm; figures are medians), python {sys.version.split()[0]}"
    )
    print(f"bare one-pool app          {floor.medians['bare']:6.2f} s")
    ratio, low, high = floor.ratio("example", "bare")
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print(
        f"example environment        {floor.medians['example']:6.2f} s   ratio {ratio:4.2f}  "
        f"<= 1.5  {verdict}  (per round {low:4.2f} to {high:4.2f})"
    )
    print(f"example, cold (bundling)   {cold:6.2f} s")
    for count, seconds in tenants.medians.items():
        print(f"{count:>3} Entra tenant(s)         {seconds:6.2f} s")
    scaling, low, high = tenants.ratio("50", "1")
    verdict = "PASS" if scaling <= 3 else "FAIL"
    print(
        f"50 tenants / 1 tenant      ratio {scaling:4.2f}  <= 3    {verdict}  "
        f"(per round {low:4.2f} to {high:4.2f})"
    )


if __name__ == "__main__":
    main()
