"""Synth time: the example environment against a bare one-pool CDK app, and tenant scaling.

Usage: .venv/bin/python bench/synth.py [--runs N]

Every figure is the median wall time of `npx cdk synth` (the CLI a user runs), measured in
this run, warm (second and later synths reuse the cached Lambda bundle and cdk.out).
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


def median_of(runs: int, outdir: Path, *args: str) -> float:
    synth_seconds(outdir, *args)  # warm-up: bundling and the first cdk.out
    return statistics.median(synth_seconds(outdir, *args) for _ in range(runs))


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
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    scratch = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        bare = median_of(runs, scratch / "bare", "--app", f"{PYTHON} bench/bare_app.py")
        example = median_of(runs, scratch / "example", "-c", "env=example")
        cold = synth_seconds(scratch / "cold", "-c", "env=example", cache=scratch / "cache")
        with tenant_configs([1, 10, 50]) as envs:
            tenants = {
                n: median_of(runs, scratch / env, "-c", f"env={env}") for n, env in envs.items()
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    ratio = example / bare
    scaling = tenants[50] / tenants[1]
    print(f"runs per figure: {runs} (median, warm), python {sys.version.split()[0]}")
    print(f"bare one-pool app          {bare:6.2f} s")
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print(f"example environment        {example:6.2f} s   ratio {ratio:4.2f}  <= 1.5  {verdict}")
    print(f"example, cold (bundling)   {cold:6.2f} s")
    for count, seconds in tenants.items():
        print(f"{count:3d} Entra tenant(s)         {seconds:6.2f} s")
    verdict = "PASS" if scaling <= 3 else "FAIL"
    print(f"50 tenants / 1 tenant      ratio {scaling:4.2f}  <= 3    {verdict}")


if __name__ == "__main__":
    main()
