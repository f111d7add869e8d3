"""The custom-resource bundle against a naive one: size, and cold start of one full Create.

    .venv/bin/python bench/bundle_size_and_cold_start.py [--runs N] [--rebuild]

Bundles, all for the Lambda runtime (manylinux2014 x86_64, CPython 3.13):

- ours: ENTRA_HANDLER_BUNDLE.cached_build() (pruned, bytecode compiled for 3.13).
- naive: `pip install --target DIR --platform manylinux2014_x86_64 --python-version 3.13
  --only-binary=:all: msgraph-sdk==1.65.0 azure-identity==1.27.0`, run by this venv's pip
  (Python 3.11) as a project would run it, plus the handler's sources. pip byte-compiles what
  it installs with the interpreter running it, so this ships cpython-311 bytecode, which a
  3.13 runtime ignores: every cold start compiles from source. THE baseline of the targets.
- naive --no-compile: the same command with --no-compile (sizes only: at run time it is
  the naive bundle, source without usable bytecode).
- naive, pip on 3.13: the same command run by a Python 3.13 pip, so its bytecode (timestamp
  pycs) is usable: separates what pruning buys from what bytecode buys.

Sizes: sum of file sizes, file count, and the bytes of a deterministic zip (sorted entries,
fixed timestamps, deflate level 9). Cold start: fresh `python3.13 -I -B` processes with only
the bundle and a boto3 stand-in on sys.path, alternating between bundles, each running one
full Create (on_event, then is_complete until complete) against a fresh EntraEmulator, timed
from just before the process is spawned. One untimed probe run per bundle comes first: it
warms the page cache (all timed runs are warm), and an audit hook counts compile() calls on
.py files (modules compiled from source, plus AST-only parses such as anyio's lazy importer
reading its own __init__ sources) and the data files read. -B: the Lambda code directory is
read-only, so a bundle's own bytecode is all a cold start gets. The emulator's own time per
request is recorded, so that the Create's time can be told from the emulator's. The RSA-2048
key of the signing certificate the emulator issues is generated before the process is
spawned: key generation takes the emulator 0.05-1.2 s on a loaded machine, which is neither
bundle's time and only blurred the ratio.

Prints README-ready tables and the ratios against the targets (ours <= 25% of the naive
unzipped size; ours' median cold Create <= 50% of the naive one), and writes
build/bench/bundle-size-and-cold-start.json. Built bundles are kept in build/bench/bundles/.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE  # noqa: E402
from tests.bundle.test_bundle_runs import (  # noqa: E402
    BOTO3_STAND_IN,
    event,
    lambda_environment,
)
from tests.emulators import EntraEmulator, _graph  # noqa: E402
from tests.emulators._http import HttpRequest, HttpResponse  # noqa: E402
from tests.emulators._pki import make_self_signed_rsa  # noqa: E402
from tests.emulators.entra import Server  # noqa: E402

OUT = REPO / "build" / "bench"
BUNDLES = OUT / "bundles"
REQUIREMENTS = ("msgraph-sdk==1.65.0", "azure-identity==1.27.0")
NAIVE_ARGS = (
    "--platform=manylinux2014_x86_64",
    "--python-version=3.13",
    "--only-binary=:all:",
    *REQUIREMENTS,
)
SIZE_TARGET = 0.25
COLD_TARGET = 0.50
CREATE_TIMEOUT_SECONDS = 180
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")

# Runs in the fresh python3.13 process: argv = bundle, runtime dir, event JSON, probe flag.
# Prints one JSON line of wall-clock marks (time.time(), comparable with the parent's).
CHILD = """
import time
STARTED = time.time()
import json, sys
bundle, runtime, event_json, probe = sys.argv[1:5]
sys.path[:0] = [bundle, runtime]
compiled, data_files = [], set()
if probe == "1":
    def hook(name, args):
        if name == "compile" and isinstance(args[1], str) and args[1].endswith(".py"):
            compiled.append(args[1])
        elif name == "open" and isinstance(args[0], str) and args[0].startswith(bundle):
            if not args[0].endswith((".py", ".pyc", ".so")):
                data_files.add(args[0][len(bundle) + 1:])
    sys.addaudithook(hook)
import entra_saml_app.handler as handler
IMPORTED = time.time()
request = json.loads(event_json)
started = handler.on_event(request, None)
ON_EVENT = time.time()
polls = 0
while True:
    polls += 1
    answer = handler.is_complete({**request, **started}, None)
    if answer["IsComplete"] or polls == 60:
        break
DONE = time.time()
print(json.dumps({
    "started": STARTED, "imported": IMPORTED, "on_event": ON_EVENT, "done": DONE,
    "complete": answer["IsComplete"], "physical_id": started["PhysicalResourceId"],
    "polls": polls, "modules": len(sys.modules), "compiled_from_source": len(compiled),
    "data_files": sorted(data_files),
}))
"""


@dataclass
class Bundle:
    key: str
    label: str
    path: Path
    bytecode: str = ""
    timed: bool = True
    command: list[str] = field(default_factory=list)


@dataclass
class Size:
    files: int
    unzipped: int
    zipped: int
    pyc_files: int
    pyc_bytes: int


@dataclass
class Run:
    total: float
    startup: float
    handler_import: float
    first_graph_request: float
    first_graph_response: float
    on_event: float
    largest_gap: float
    emulator_busy: float
    graph_requests: int
    polls: int
    modules: int


class TimedEmulator(EntraEmulator):
    """Records when each request reached the emulator and when it was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.timeline: list[tuple[Server, float, float]] = []

    def _dispatch(self, server: Server, request: HttpRequest) -> HttpResponse | None:
        arrived = time.time()
        response = super()._dispatch(server, request)
        self.timeline.append((server, arrived, time.time()))
        return response


@contextmanager
def prepared_signing_key() -> Iterator[None]:
    """The emulator's next signing certificates use a key made now, not while timed."""
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    original = _graph.make_self_signed_rsa
    _graph.make_self_signed_rsa = functools.partial(make_self_signed_rsa, key=key)
    try:
        yield
    finally:
        _graph.make_self_signed_rsa = original


# -- building ---------------------------------------------------------------------------------


def build_ours() -> Bundle:
    built = ENTRA_HANDLER_BUNDLE.cached_build()
    # A copy: another checkout's synth may replace the cached bundle while this runs.
    copy = BUNDLES / "ours"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(built, copy)
    return Bundle("ours", "ours (pruned, 3.13 bytecode)", copy, command=[f"cached_build() {built}"])


def naive_commands() -> list[tuple[str, str, list[str], bool]]:
    """(key, label, pip command, timed) for each naive bundle."""
    venv_pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    py313 = ENTRA_HANDLER_BUNDLE.compiler
    commands = [
        ("naive", "naive pip install", [*venv_pip, *NAIVE_ARGS], True),
        (
            "naive_no_compile",
            "naive, --no-compile",
            [*venv_pip, "--no-compile", *NAIVE_ARGS],
            False,
        ),
    ]
    if py313:
        pip313 = [py313, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        commands.append(("naive_py313", "naive, pip on Python 3.13", [*pip313, *NAIVE_ARGS], True))
    return commands


def build_naive(key: str, label: str, command: list[str], timed: bool, rebuild: bool) -> Bundle:
    version = subprocess.run(  # noqa: S603 - an interpreter, fixed arguments
        [command[0], "-c", "import sys, pip; print(sys.version.split()[0], pip.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    digest = hashlib.sha256("\0".join([version, *command[1:]]).encode()).hexdigest()[:12]
    folder = BUNDLES / f"{key}-{digest}"
    if rebuild or not folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        staging = BUNDLES / f".{key}-staging"
        shutil.rmtree(staging, ignore_errors=True)
        pip = subprocess.run(  # noqa: S603 - fixed arguments
            [*command, f"--target={staging}"], capture_output=True, text=True, check=False
        )
        if pip.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{pip.stderr[-3000:]}")
        staging.rename(folder)
    package = folder / ENTRA_HANDLER_BUNDLE.source.name  # the handler, as sources
    shutil.rmtree(package, ignore_errors=True)
    for source in ENTRA_HANDLER_BUNDLE.source_files():
        destination = package / source.relative_to(ENTRA_HANDLER_BUNDLE.source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    shown = " ".join(["python" + version.split()[0], "-m pip install", *command[6:]])
    return Bundle(key, label, folder, timed=timed, command=[shown, f"--target={folder}"])


# -- sizes ------------------------------------------------------------------------------------


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def zip_bytes(folder_name: str) -> int:
    """Size of a deterministic zip of the folder: sorted entries, fixed dates, deflate 9."""
    folder = Path(folder_name)
    with tempfile.TemporaryFile() as out:
        with zipfile.ZipFile(out, "w") as archive:
            for path in files_of(folder):
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED, 9)
        return out.seek(0, 2)


def fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in files_of(folder):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def measure_sizes(bundles: list[Bundle]) -> dict[str, Size]:
    """Sizes of every bundle; zips in parallel (zlib releases the GIL), reused while a
    bundle's files are unchanged."""
    cache_file = OUT / "zip-sizes.json"
    cache: dict[str, int] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    prints = {b.key: fingerprint(b.path) for b in bundles}
    missing = [b for b in bundles if prints[b.key] not in cache]
    with ThreadPoolExecutor(max_workers=2) as pool:
        sized = pool.map(zip_bytes, [str(b.path) for b in missing])
        for bundle, size in zip(missing, sized, strict=True):
            cache[prints[bundle.key]] = size
    cache_file.write_text(json.dumps({prints[b.key]: cache[prints[b.key]] for b in bundles}))
    sizes: dict[str, Size] = {}
    for bundle in bundles:
        files = files_of(bundle.path)
        pycs = [p for p in files if p.suffix == ".pyc"]
        sizes[bundle.key] = Size(
            files=len(files),
            unzipped=sum(p.stat().st_size for p in files),
            zipped=cache[prints[bundle.key]],
            pyc_files=len(pycs),
            pyc_bytes=sum(p.stat().st_size for p in pycs),
        )
    return sizes


def describe_bytecode(bundle: Bundle) -> str:
    """Which interpreter the shipped bytecode is for, and how it is invalidated."""
    sources = sum(1 for p in files_of(bundle.path) if p.suffix == ".py")
    kinds: dict[str, int] = {}
    for pyc in bundle.path.rglob("__pycache__/*.pyc"):
        if not (pyc.parent.parent / f"{pyc.name.split('.')[0]}.py").exists():
            continue
        header = pyc.read_bytes()[:8]
        magic = int.from_bytes(header[:2], "little")
        flags = int.from_bytes(header[4:8], "little")
        mode = {0: "timestamp", 1: "unchecked-hash", 3: "checked-hash"}.get(flags, "?")
        kind = f"{pyc.name.split('.')[1]} (magic {magic}, {mode})"
        kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return f"none for its {sources:,} .py"
    shown = ", ".join(f"{kind} for {n:,}" for kind, n in sorted(kinds.items()))
    return f"{shown} of {sources:,} .py"


def resolved_versions(folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for info in folder.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[_normalise(name)] = version
    return found


def lock_versions() -> dict[str, str]:
    lines = ENTRA_HANDLER_BUNDLE.lock_file.read_text().splitlines()
    return {_normalise(m[1]): m[2] for line in lines if (m := _LOCK_LINE.match(line))}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


# -- cold start -------------------------------------------------------------------------------


def cold_create(bundle: Bundle, runtime_dir: Path, *, probe: bool) -> tuple[Run, dict[str, Any]]:
    """One full Create in a fresh process; its timings, and what the child reported."""
    interpreter = ENTRA_HANDLER_BUNDLE.compiler
    assert interpreter is not None
    emulator = TimedEmulator()
    with emulator, prepared_signing_key():
        user_id = emulator.add_user("Bench User")
        create = event("Create", emulator, user_id)
        # The handler waits between the reads that confirm a new signing key (4 waits of the
        # retry base, 1 s in production): the same for every bundle, so it is made short here
        # and the comparison is of what the bundles cost, not of a deliberate wait.
        env = lambda_environment(emulator) | {"ENTRA_RETRY_BASE_SECONDS": "0.01"}
        command = [
            interpreter,
            "-I",
            "-B",
            "-c",
            CHILD,
            str(bundle.path),
            str(runtime_dir),
            json.dumps(create),
            "1" if probe else "0",
        ]
        spawned = time.time()
        child = subprocess.run(  # noqa: S603 - fixed arguments
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=CREATE_TIMEOUT_SECONDS,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(f"{bundle.label}: the Create failed:\n{child.stderr[-3000:]}")
        report: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        (app,) = emulator.applications()
        if not report["complete"] or app["id"] != report["physical_id"]:
            raise RuntimeError(f"{bundle.label}: the Create did not complete: {report}")
        timeline = list(emulator.timeline)
        graph = [(arrived, answered) for server, arrived, answered in timeline if server == "graph"]
    run = Run(
        total=report["done"] - spawned,
        startup=report["started"] - spawned,
        handler_import=report["imported"] - report["started"],
        first_graph_request=graph[0][0] - spawned,
        first_graph_response=graph[0][1] - spawned,
        on_event=report["on_event"] - spawned,
        largest_gap=max(nxt[0] - prev[1] for prev, nxt in itertools.pairwise(graph)),
        emulator_busy=sum(answered - arrived for _, arrived, answered in timeline),
        graph_requests=len(graph),
        polls=report["polls"],
        modules=report["modules"],
    )
    return run, report


def measure_cold(bundles: list[Bundle], runs: int) -> tuple[dict[str, list[Run]], dict[str, Any]]:
    timed = [b for b in bundles if b.timed]
    results: dict[str, list[Run]] = {b.key: [] for b in timed}
    probes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        runtime_dir = Path(scratch) / "runtime"
        (runtime_dir / "boto3").mkdir(parents=True)
        (runtime_dir / "boto3" / "__init__.py").write_text(BOTO3_STAND_IN)
        for bundle in timed:
            _, report = cold_create(bundle, runtime_dir, probe=True)
            probes[bundle.key] = {
                "compiled_from_source": report["compiled_from_source"],
                "modules": report["modules"],
                "data_files": report["data_files"],
            }
            print(f"  probe {bundle.label}: {report['compiled_from_source']} modules compiled")
        for round_ in range(runs):
            shift = round_ % len(timed)
            for bundle in timed[shift:] + timed[:shift]:
                run, _ = cold_create(bundle, runtime_dir, probe=False)
                results[bundle.key].append(run)
                print(f"  run {round_ + 1}/{runs} {bundle.label}: {run.total:.2f} s")
    return results, probes


# -- report -----------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _median(runs: list[Run], name: str) -> float:
    return float(statistics.median(getattr(run, name) for run in runs))


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.1%} (target <= {target:.0%}: {'PASS' if ratio <= target else 'FAIL'})"


def tables(
    bundles: list[Bundle],
    sizes: dict[str, Size],
    cold: dict[str, list[Run]],
    probes: dict[str, Any],
) -> list[str]:
    naive = sizes["naive"]
    lines = [
        "| bundle | bytecode shipped | files | unzipped | zip (deflate 9) | unzipped vs naive |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for b in bundles:
        s = sizes[b.key]
        lines.append(
            f"| {b.label} | {b.bytecode} | {s.files:,} | {_mb(s.unzipped)} | {_mb(s.zipped)} "
            f"| {s.unzipped / naive.unzipped:.1%} |"
        )
    lines += [
        "",
        "| bundle | cold Create median | min | handler import | first Graph request "
        "| onEvent done | largest gap between Graph calls | emulator busy | modules loaded "
        "| compile() of .py in the Create |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in bundles:
        if b.key not in cold:
            continue
        runs = cold[b.key]
        lines.append(
            f"| {b.label} | {_median(runs, 'total'):.2f} s | {min(r.total for r in runs):.2f} s "
            f"| {_median(runs, 'handler_import') * 1000:.0f} ms "
            f"| {_median(runs, 'first_graph_request'):.2f} s "
            f"| {_median(runs, 'on_event'):.2f} s | {_median(runs, 'largest_gap'):.2f} s "
            f"| {_median(runs, 'emulator_busy'):.2f} s | {runs[0].modules:,} "
            f"| {probes[b.key]['compiled_from_source']:,} |"
        )
    ours = sizes["ours"]
    lines += [
        "",
        f"size: ours / naive unzipped = {_verdict(ours.unzipped / naive.unzipped, SIZE_TARGET)}",
        f"      ours / naive zip      = {ours.zipped / naive.zipped:.1%}",
    ]
    strict = sizes.get("naive_no_compile")
    if strict:
        ratio = ours.unzipped / strict.unzipped
        lines.append(f"      ours / naive --no-compile unzipped = {_verdict(ratio, SIZE_TARGET)}")
    cold_ratio = _median(cold["ours"], "total") / _median(cold["naive"], "total")
    lines.append(f"cold: ours / naive median Create = {_verdict(cold_ratio, COLD_TARGET)}")
    fastest = min(r.total for r in cold["ours"]) / min(r.total for r in cold["naive"])
    lines.append(f"      ours / naive fastest Create = {fastest:.1%}")
    if "naive_py313" in cold:
        ratio = _median(cold["ours"], "total") / _median(cold["naive_py313"], "total")
        lines.append(f"      ours / naive-with-3.13-bytecode median Create = {ratio:.1%}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed Creates per bundle")
    parser.add_argument("--rebuild", action="store_true", help="reinstall the naive bundles")
    args = parser.parse_args()
    began = time.time()
    BUNDLES.mkdir(parents=True, exist_ok=True)

    print("building bundles ...")
    bundles = [build_ours()]

    def build(spec: tuple[str, str, list[str], bool]) -> Bundle:
        key, label, command, timed = spec
        return build_naive(key, label, command, timed, rebuild=args.rebuild)

    with ThreadPoolExecutor(max_workers=2) as pool:  # pip runs in subprocesses
        bundles += pool.map(build, naive_commands())
    for bundle in bundles:
        bundle.bytecode = describe_bytecode(bundle)
    locked = lock_versions()
    for bundle in bundles[1:]:
        found = resolved_versions(bundle.path)
        differ = {k: (found.get(k), v) for k, v in locked.items() if found.get(k) != v}
        extra = sorted(set(found) - set(locked))
        if differ or extra:
            print(f"  {bundle.label} resolved differently from the lock: {differ} {extra}")
    print(f"  built in {time.time() - began:.0f} s; measuring sizes ...")
    sizes = measure_sizes(bundles)
    print(f"  sized at {time.time() - began:.0f} s; cold Creates ({args.runs} per bundle) ...")
    load_before = os.getloadavg()[0]
    cold, probes = measure_cold(bundles, args.runs)
    load_after = os.getloadavg()[0]

    compiler = ENTRA_HANDLER_BUNDLE.compiler or "none"
    compiler_version = subprocess.run(  # noqa: S603 - an interpreter, fixed arguments
        [
            compiler,
            "-c",
            "import sys, importlib.util as u; "
            "print(sys.version.split()[0], int.from_bytes(u.MAGIC_NUMBER[:2], 'little'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    lines = [
        "",
        f"Lambda runtime: {ENTRA_HANDLER_BUNDLE.runtime.name}; ours' bytecode compiled by "
        f"{compiler} (CPython {' magic '.join(compiler_version)}); cold Creates run by the same.",
        "",
        *tables(bundles, sizes, cold, probes),
        "",
        "commands:",
        *(f"  {b.key}: {' '.join(b.command)}" for b in bundles),
        f"data files read by a Create from ours: {probes['ours']['data_files']}",
        f"load average (1 min) before / after the cold Creates: {load_before:.2f} / "
        f"{load_after:.2f} on {os.cpu_count()} CPUs",
        f"elapsed: {time.time() - began:.0f} s",
    ]
    print("\n".join(lines))
    results = {
        "python_for_bytecode": compiler_version,
        "lambda_runtime": ENTRA_HANDLER_BUNDLE.runtime.name,
        "bundles": [
            {**asdict(b), "path": str(b.path), "size": asdict(sizes[b.key])} for b in bundles
        ],
        "cold_runs": {key: [asdict(run) for run in runs] for key, runs in cold.items()},
        "probes": probes,
        "load_average_before_after": [load_before, load_after],
        "summary": lines,
    }
    (OUT / "bundle-size-and-cold-start.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
