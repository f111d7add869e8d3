"""Deploy-time waits: a Create under emulated replication lag L and metadata lag M.

Usage: .venv/bin/python bench/deploy_waits.py [--poll SECONDS] [--runs N]

Plays the CDK Provider framework against the real handler and a fresh EntraEmulator per
run: onEvent, then isComplete at once, then isComplete every `--poll` seconds (the
framework's queryInterval, 10 s in production, scaled down here) until it answers
IsComplete. The wall time is from just before onEvent to the answer that completes.

The lags are time-based (EntraEmulator.replication_lag(seconds=L): every object answers
404 to requests by id until L s after its creation; metadata_lag(seconds=M): the metadata
URL serves the previous certificate until M s after the activation PATCH). The handler
runs with the test suite's short retry base (TUNING in tests/lambda_handler/conftest.py),
then, in a second table, with its production backoff (base 1 s, cap 30 s).

Target (the issue): wall <= max(L, M) * 1.1 + poll. The metadata lag can only start once
the service principal accepts the activation PATCH, i.e. after L, so for L > 0 and M > 0
the causal floor is L + M; the table prints that floor and a second verdict against
(L + M) * 1.1 + poll. The (0, 0) row is the baseline: the Create's own cost in this run.

Last, the handler's source is scanned for sleeps: every sleep must be the retry backoff's.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import operator
import os
import re
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for entry in (str(REPO / "lambda"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

warnings.filterwarnings("ignore", category=DeprecationWarning)

from entra_saml_app import handler  # noqa: E402
from moto import mock_aws  # noqa: E402

from tests.emulators import EntraEmulator  # noqa: E402
from tests.lambda_handler.conftest import REGION, TUNING, load_event, store_secret  # noqa: E402

HANDLER_DIR = REPO / "lambda" / "entra_saml_app"
PAIRS: tuple[tuple[float, float], ...] = ((0, 0), (2, 0), (0, 2), (5, 0), (0, 5), (2, 2), (5, 5))
PRODUCTION_PAIRS: tuple[tuple[float, float], ...] = ((2, 0), (5, 0))
PRODUCTION_BACKOFF = {"ENTRA_RETRY_BASE_SECONDS": "1", "ENTRA_RETRY_MAX_SECONDS": "30"}

Event = dict[str, Any]


@dataclass(frozen=True)
class Run:
    wall: float
    on_event: float
    polls: int
    graph_404s: int


def point_at(emulator: EntraEmulator, backoff: dict[str, str]) -> None:
    os.environ.update(TUNING)
    os.environ.update(backoff)
    # L up to 5 s must fit in onEvent's retry budget.
    os.environ["ENTRA_DEADLINE_SECONDS"] = "60"
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["ENTRA_GRAPH_ENDPOINT"] = emulator.graph_base_url
    os.environ["ENTRA_LOGIN_AUTHORITY"] = emulator.authority_url
    os.environ["REQUESTS_CA_BUNDLE"] = str(emulator.ca_bundle)


def create_event(emulator: EntraEmulator) -> Event:
    return load_event(
        "create",
        TenantId=emulator.tenant_id,
        SecretArn=store_secret(emulator, name=f"entra-deployer-{emulator.tenant_id}"),
        UserId=emulator.add_user("Ada Lovelace"),
        GroupId=emulator.add_group("Mobile testers"),
    )


def deploy(event: Event, poll: float, limit: int = 200) -> tuple[float, float, int]:
    """onEvent, then isComplete until done, as the framework's waiter does: the first
    isComplete right away, then one every `poll` seconds. (wall, onEvent time, polls)."""
    started = time.perf_counter()
    response = handler.on_event(copy.deepcopy(event), None)
    on_event_done = time.perf_counter()
    for polls in range(1, limit + 1):
        answer = handler.is_complete({**copy.deepcopy(event), **response}, None)
        if answer["IsComplete"]:
            return time.perf_counter() - started, on_event_done - started, polls
        time.sleep(poll)  # the framework's queryInterval, not the handler's
    raise AssertionError(f"not complete after {limit} polls")


def measure(lag: float, meta: float, poll: float, backoff: dict[str, str]) -> Run:
    with EntraEmulator() as emulator:
        point_at(emulator, backoff)
        event = create_event(emulator)
        emulator.replication_lag(seconds=lag)
        emulator.metadata_lag(seconds=meta)
        wall, on_event, polls = deploy(event, poll)
        not_found = sum(1 for r in emulator.requests() if r.status == 404)
        return Run(wall, on_event, polls, not_found)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(
    title: str,
    pairs: tuple[tuple[float, float], ...],
    poll: float,
    runs: int,
    backoff: dict[str, str],
) -> list[tuple[bool, bool]]:
    """One row per (L, M); returns (issue bound met, causal bound met) per row."""
    print(f"\n{title}")
    print(
        f"{'L s':>4} {'M s':>4} | {'wall s':>7} {'onEvent s':>9} {'polls':>5} {'404s':>4} | "
        f"{'bound s':>7} {'wall/bound':>10} {'issue':>5} | {'L+M bound':>9} {'causal':>6}"
    )
    results: list[tuple[bool, bool]] = []
    for lag, meta in pairs:
        samples = [measure(lag, meta, poll, backoff) for _ in range(runs)]
        run = max(samples, key=lambda sample: sample.wall)  # the worst run is what counts
        bound = max(lag, meta) * 1.1 + poll
        causal_bound = (lag + meta) * 1.1 + poll
        ok = run.wall <= bound
        results.append((ok, run.wall <= causal_bound))
        print(
            f"{lag:>4g} {meta:>4g} | {run.wall:>7.2f} {run.on_event:>9.2f} {run.polls:>5} "
            f"{run.graph_404s:>4} | {bound:>7.2f} {run.wall / bound:>10.2f} {verdict(ok):>5} | "
            f"{causal_bound:>9.2f} {verdict(run.wall <= causal_bound):>6}"
        )
        if runs > 1:
            walls = ", ".join(f"{sample.wall:.2f}" for sample in samples)
            median = statistics.median(sample.wall for sample in samples)
            print(f"{'':>10}runs: {walls} (median {median:.2f})")
    return results


_SLEEP = re.compile(r"\b(?:time|asyncio)\.sleep\s*\(([^)]*)\)|\bsleep\s*\(([^)]*)\)")


def scan_sleeps() -> list[tuple[str, int, str, bool]]:
    """Every sleep call in the handler's source: (file, line, text, fixed?). A sleep is
    fixed when its argument is a numeric literal."""
    found: list[tuple[str, int, str, bool]] = []
    for path in sorted(HANDLER_DIR.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            for match in _SLEEP.finditer(code):
                argument = (match.group(1) or match.group(2) or "").strip()
                fixed = bool(re.fullmatch(r"[\d._]+", argument))
                found.append((path.name, number, line.strip(), fixed))
    return found


def production_backoff_schedule(lag: float, poll: float = 10.0) -> tuple[float, float]:
    """When the handler's own Retrier, with the production settings (base 1 s, cap 30 s), first
    sees an object that replicates `lag` s after creation (request time ignored, simulated
    clock), against the bound lag * 1.1 + poll."""
    from entra_saml_app.errors import GraphError, Step  # noqa: PLC0415
    from entra_saml_app.retry import Retrier  # noqa: PLC0415

    from tests.lambda_handler.fake_graph import FakeClock  # noqa: PLC0415

    clock = FakeClock()

    async def read() -> None:
        if clock.monotonic() < lag:
            raise GraphError(404, "Request_ResourceNotFound")

    retrier = Retrier(10_000.0, 1.0, 30.0, clock=clock.monotonic, sleep=clock.sleep)
    asyncio.run(retrier.run(Step("read"), read, fresh_until=10_000.0))
    return clock.monotonic(), lag * 1.1 + poll


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=1.0, help="queryInterval (default 1 s)")
    parser.add_argument("--runs", type=int, default=1, help="runs per (L, M); the worst counts")
    args = parser.parse_args()

    with mock_aws():
        measure(0, 0, args.poll, {})  # warm-up: imports msgraph, first TLS handshakes
        quick = table(
            f"Short retry base (TUNING: base {TUNING['ENTRA_RETRY_BASE_SECONDS']} s, cap "
            f"{TUNING['ENTRA_RETRY_MAX_SECONDS']} s), poll {args.poll:g} s",
            PAIRS,
            args.poll,
            args.runs,
            {},
        )
        production = table(
            f"Production backoff (base 1 s doubling, cap 30 s), poll {args.poll:g} s",
            PRODUCTION_PAIRS,
            args.poll,
            args.runs,
            PRODUCTION_BACKOFF,
        )

    print("\nThe handler's Retrier (production settings) vs the bound, poll 10 s, simulated clock:")
    print(f"{'L s':>5} {'first retry >= L':>16} {'bound L*1.1+10':>15} {'verdict':>7}")
    for lag in (5.0, 8.0, 16.0, 32.0, 62.0, 120.0, 300.0):
        retry_at, bound = production_backoff_schedule(lag)
        print(f"{lag:>5g} {retry_at:>16.0f} {bound:>15.1f} {verdict(retry_at <= bound):>7}")
    sweep = [step / 10 for step in range(1, 3001)]
    misses = [lag for lag in sweep if operator.gt(*production_backoff_schedule(lag))]
    worst = max(sweep, key=lambda lag: operator.sub(*production_backoff_schedule(lag)))
    late = operator.sub(*production_backoff_schedule(worst))
    print(
        f"  L in 0.1..300 s: bound missed for {len(misses)}/{len(sweep)} values of L; worst "
        f"L = {worst:g} s, {late:.1f} s past the bound"
    )

    print("\nSleeps in lambda/entra_saml_app/*.py:")
    sleeps = scan_sleeps()
    for name, number, text, fixed in sleeps:
        kind = "FIXED (defect)" if fixed else "variable"
        print(f"  {name}:{number}: {text}  [{kind}]")
    fixed_sleeps = [entry for entry in sleeps if entry[3]]
    only_backoff = all(name == "retry.py" for name, *_ in sleeps)
    print(
        f"  {len(sleeps)} sleep call(s), {len(fixed_sleeps)} with a constant; all in the retry "
        f"backoff: {only_backoff}  {verdict(not fixed_sleeps and only_backoff)}"
    )

    rows = quick + production
    causal_ok = all(causal for _, causal in rows)
    missed = [pair for pair, (ok, _) in zip(PAIRS + PRODUCTION_PAIRS, rows, strict=True) if not ok]
    print(
        f"\nissue bound max(L, M) * 1.1 + poll met: {sum(ok for ok, _ in rows)}/{len(rows)} rows; "
        f"missed at (L, M) = {', '.join(f'({lag:g}, {meta:g})' for lag, meta in missed) or 'none'}"
    )
    print(
        f"causal bound (L + M) * 1.1 + poll met: {sum(c for _, c in rows)}/{len(rows)} rows  "
        f"{verdict(causal_ok)}"
    )
    return 0 if causal_ok and not fixed_sleeps and only_backoff else 1


if __name__ == "__main__":
    sys.exit(main())
