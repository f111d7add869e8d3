"""Local, Docker-free bundling of a Python Lambda with pinned, hashed requirements.

The bundle is built once per content key and cached in `.bundle-cache/`: the key hashes
the handler's source files, the lock file and every bundling setting, and it is also the
asset hash, so the template (and `cdk diff`) changes only when one of those changes,
whatever machine or clone synthesizes it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    CfnResource,
    DockerImage,
    Duration,
    ILocalBundling,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mobile_sso.outputs import BUNDLE_METADATA

REPO = Path(__file__).resolve().parent.parent
# Built bundles, keyed by content; MOBILE_SSO_BUNDLE_CACHE points elsewhere (benchmarks).
CACHE_DIR = Path(os.environ.get("MOBILE_SSO_BUNDLE_CACHE", REPO / ".bundle-cache"))
# Bump when the bundling procedure itself changes, so every cached bundle is rebuilt.
BUNDLER_VERSION = "1"
_IGNORED_PARTS = ("__pycache__", ".pytest_cache", ".mypy_cache")


@dataclass(frozen=True)
class PythonBundle:
    """How to bundle one handler package.

    `source` is the package folder (copied into the bundle under its own name);
    `lock_file` lists the pinned, hashed requirements installed beside it for the Lambda
    platform; `keep_only` maps an installed folder to the only subfolders of it to keep
    (its files stay), for libraries whose unused parts the handler never imports; `drop`
    lists installed files that are never read at run time.
    """

    source: Path
    lock_file: Path
    python_version: str = "3.13"
    platform: str = "manylinux2014_x86_64"
    keep_only: tuple[tuple[str, tuple[str, ...]], ...] = ()
    drop: tuple[str, ...] = ()
    keep_suffixes: tuple[str, ...] = (".py",)

    @property
    def runtime(self) -> lambda_.Runtime:
        return lambda_.Runtime(f"python{self.python_version}", lambda_.RuntimeFamily.PYTHON)

    def source_files(self) -> list[Path]:
        return sorted(
            p
            for p in self.source.rglob("*")
            if p.is_file()
            and p.suffix in self.keep_suffixes
            and not any(part in _IGNORED_PARTS for part in p.parts)
        )

    @cached_property
    def compiler(self) -> str | None:
        """An interpreter of the runtime's Python version, to byte-compile the bundle."""
        return find_interpreter(self.python_version)

    @cached_property
    def content_key(self) -> str:
        """A hash of everything that decides the bundle's content; stable across machines.

        Whether bytecode is shipped is part of it: a machine without an interpreter of the
        runtime's version builds a different (slower-starting) bundle, and says so.
        """
        return self._digest("bytecode" if self.compiler else "source-only")

    @cached_property
    def source_key(self) -> str:
        """The content key without whether bytecode is shipped: two bundles with the same
        source key differ in bytecode only (`mobile-sso plan` says so)."""
        return self._digest(None)

    def _digest(self, mode: str | None) -> str:
        digest = hashlib.sha256()
        settings = (
            BUNDLER_VERSION,
            self.python_version,
            self.platform,
            *([mode] if mode else []),
            repr(self.keep_only),
            *self.drop,
        )
        digest.update("\0".join(settings).encode())
        for path in [*self.source_files(), self.lock_file]:
            digest.update(path.relative_to(self.source.parent).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def build(self, target: Path) -> None:
        """Install the requirements and the handler into `target` (which must not exist)."""
        target.mkdir(parents=True)
        _pip_install(self, target)
        for folder, kept in self.keep_only:
            subfolders = [p for p in (target / folder).iterdir() if p.is_dir()]
            if not set(kept) <= {p.name for p in subfolders}:
                raise RuntimeError(f"bundling: {folder} lacks one of {kept}")
            for path in subfolders:
                if path.name not in kept:
                    shutil.rmtree(path)
        for relative in self.drop:
            (target / relative).unlink()
        for path in _unwanted(target):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        package = target / self.source.name
        for path in self.source_files():
            destination = package / path.relative_to(self.source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        _compile(self, target)

    def cached_build(self) -> Path:
        """The bundle folder for the current content key, built on first use."""
        folder = CACHE_DIR / f"{self.source.name}-{self.content_key[:16]}"
        if not folder.is_dir():
            CACHE_DIR.mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
                staging = Path(scratch) / "bundle"
                self.build(staging)
                staging.rename(folder)  # atomic: a half-built bundle is never reused
            for stale in CACHE_DIR.glob(f"{self.source.name}-*"):
                if stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
        return folder

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        timeout: Duration,
        memory_size: int = 256,
        environment: Mapping[str, str] | None = None,
        role: iam.IRole | None = None,
    ) -> lambda_.Function:
        """A function running this bundle, x86_64 (the bundle's platform), with its own log
        group `<construct_id>Logs` kept one month, and its own role unless `role` is given.
        Its template entry records the bundle's source key and whether bytecode is shipped
        (metadata `BUNDLE_METADATA`), so a plan can tell a bytecode-only change."""
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=self.runtime,
            architecture=lambda_.Architecture.X86_64,
            code=self.code(),
            handler=handler,
            timeout=timeout,
            memory_size=memory_size,
            environment=dict(environment or {}),
            log_group=logs.LogGroup(
                scope, f"{construct_id}Logs", retention=logs.RetentionDays.ONE_MONTH
            ),
            description=description,
            role=role,
        )
        resource = function.node.default_child
        if not isinstance(resource, CfnResource):
            raise TypeError("a Lambda function without its CloudFormation resource")
        resource.add_metadata(
            BUNDLE_METADATA, {"source": self.source_key, "bytecode": self.compiler is not None}
        )
        return function

    def code(self) -> lambda_.Code:
        """Lambda code built locally; the asset hash is the content key."""
        return lambda_.Code.from_asset(
            str(self.source),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.content_key,
            bundling=BundlingOptions(
                # Required by the type, never pulled: local bundling always succeeds.
                image=DockerImage.from_registry("local-bundling-only"),
                local=_LocalBundling(self),
            ),
        )


@jsii.implements(ILocalBundling)
class _LocalBundling:
    def __init__(self, bundle: PythonBundle) -> None:
        self._bundle = bundle

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:  # noqa: ARG002
        shutil.copytree(self._bundle.cached_build(), output_dir, dirs_exist_ok=True)
        return True


def _pip_install(bundle: PythonBundle, target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--implementation=cp",
        f"--python-version={bundle.python_version}",
        f"--platform={bundle.platform}",
        f"--target={target}",
        "-r",
        str(bundle.lock_file),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(
            f"bundling {bundle.source.name}: pip install failed ({result.returncode}):\n"
            f"{result.stderr.strip()}"
        )


def _unwanted(target: Path) -> Iterable[Path]:
    """Caches and test suites of the installed packages; never imported at run time."""
    for path in sorted(target.rglob("*"), reverse=True):
        if path.name == "__pycache__" or (path.is_dir() and path.name in ("tests", "test")):
            yield path


@functools.cache
def find_interpreter(version: str) -> str | None:
    """A Python `version` ("3.13") interpreter on PATH or installed by pyenv, if any.
    Probed once per process: every bundled function of a synth asks, and each probe starts
    an interpreter."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    # pyenv's installed versions before PATH: PATH may hold pyenv's shim, a shell script
    # that takes 0.2 s to fail when that version is not the selected one.
    candidates: list[str | None] = [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))
    ]
    candidates.append(shutil.which(f"python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def _compile(bundle: PythonBundle, target: Path) -> None:
    """Ship bytecode of the runtime's version: without it every cold start compiles."""
    if bundle.compiler is None:
        print(
            f"bundling {bundle.source.name}: no Python {bundle.python_version} interpreter "
            "found; shipping source only (slower cold starts). Install it (e.g. with pyenv) "
            "for a bundle with bytecode.",
            file=sys.stderr,
        )
        return
    # Unchecked-hash pycs carry no timestamps, so the bundle is reproducible.
    result = subprocess.run(  # noqa: S603 - an interpreter path, fixed arguments
        [
            bundle.compiler,
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode=unchecked-hash",
            f"-s{target}",
            "-p/var/task",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"bundling {bundle.source.name}: byte-compiling failed:\n{result.stdout[-2000:]}"
        )
