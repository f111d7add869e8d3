"""The bundle of the Entra SAML application handler, pruned to what the handler can import.

What goes, and why it is never imported (the evidence is rerun by bench/pruning_evidence.py,
which runs the handler's whole test suite with everything pruned here made unimportable):

- msgraph-sdk's request builders off the handler's navigation chains. Builders are imported
  lazily, from navigation properties and `by_*_id` methods, so only the chains graph.py walks
  are kept, down to their leaves (`applications/item`, not `applications/item/owners`).
- msgraph-sdk models the handler cannot load. graph.py reads responses as JSON and sends
  JSON bodies, so the only models it deserialises are the error models (`o_data_errors`,
  through the request adapter's error mapping). The SDK's other function-local model imports
  sit in methods the handler never calls: the request builders' `get`/`post`/`patch`/
  `delete`, which deserialise into models, and the models' own (de)serialisers. What stays
  is the import closure computed from the installed sources at build time: module-level
  statements of every module (not under `if TYPE_CHECKING:`), plus the function-local ones of
  the handler's own code and of the error models: 4 of the 4,506 model modules.
- aiohttp and its dependencies: microsoft-kiota-authentication-azure requires it, but only
  azure-core's async transports import it; the handler's credential is the synchronous one
  (requests) and its Graph transport is httpx.
- cffi's Python package and pycparser: cryptography's Rust extension needs only the
  `_cffi_backend` extension module, which stays.
- the OpenTelemetry SDK and the incubating semantic conventions: kiota imports only the API
  (`opentelemetry.trace`) and the stable attributes (`opentelemetry.semconv.attributes`).
- installers' RECORD files (importlib.metadata reads them only for `files()`; METADATA and
  entry_points.txt, which kiota and OpenTelemetry read, stay) and console scripts.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sso_constructs.bundling import REPO, PythonBundle

GRAPH = "msgraph/generated"
MODELS = f"{GRAPH}/models"
# Bump when the pruning below changes in a way its settings do not show.
PRUNING_VERSION = "2"
# The model packages the handler deserialises (errors, through the adapter's error mapping).
DESERIALISED_MODELS = ("o_data_errors",)

# The request-builder folders on graph.py's navigation chains, leaves last: every other
# subfolder of a folder named here is removed (its files stay).
GRAPH_PATHS_USED = (
    "application_templates/item/instantiate",  # .by_application_template_id().instantiate
    "applications/item",  # .applications, .by_application_id()
    "directory/deleted_items/graph_application",  # .directory.deleted_items.graph_application
    "directory/deleted_items/item",  # .deleted_items.by_directory_object_id()
    "service_principals/item/add_token_signing_certificate",  # .by_service_principal_id()...
    "service_principals/item/app_role_assigned_to/item",  # ...by_app_role_assignment_id()
)

# Installed but never imported; globs under the bundle root, each of which must match.
NEVER_IMPORTED = (
    *(
        pattern
        for package in (
            "aiohttp",
            "aiohappyeyeballs",
            "aiosignal",
            "frozenlist",
            "multidict",
            "yarl",
            "propcache",
            "attrs",
            "pycparser",
        )
        for pattern in (package, f"{package}-*.dist-info")
    ),
    "attr",  # attrs' second package
    "cffi",  # its dist-info stays: it describes _cffi_backend
    "opentelemetry/sdk",
    "opentelemetry_sdk-*.dist-info",
    "opentelemetry/semconv/_incubating",
    "*.dist-info/RECORD",
    "bin",
)


def _keep_only(paths: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`PythonBundle.keep_only` for folder paths under msgraph/generated, parents first."""
    kept: dict[str, set[str]] = {GRAPH: {"models"}}
    for path in paths:
        parts = path.split("/")
        for depth, name in enumerate(parts):
            kept.setdefault("/".join([GRAPH, *parts[:depth]]), set()).add(name)
        kept.setdefault("/".join([GRAPH, *parts]), set())
    ordered = sorted(kept, key=lambda folder: folder.count("/"))
    return tuple((folder, tuple(sorted(kept[folder]))) for folder in ordered)


@dataclass(frozen=True)
class PrunedBundle(PythonBundle):
    """A PythonBundle that also removes never-imported trees and unreachable Graph models.

    `remove` lists globs under the bundle root; a glob matching nothing fails the build, so
    a dependency bump that renames or drops one is noticed.
    """

    remove: tuple[str, ...] = ()
    prune_models: bool = False
    deserialised_models: tuple[str, ...] = ()

    @cached_property
    def content_key(self) -> str:
        digest = hashlib.sha256(super().content_key.encode())
        settings = (
            PRUNING_VERSION,
            *self.remove,
            f"prune_models={self.prune_models}",
            *self.deserialised_models,
        )
        digest.update("\0".join(settings).encode())
        return digest.hexdigest()

    def build(self, target: Path) -> None:
        super().build(target)
        for pattern in self.remove:
            matches = sorted(target.glob(pattern))
            if not matches:
                raise RuntimeError(f"bundling {self.source.name}: nothing matches {pattern}")
            for path in matches:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if self.prune_models:
            models = MODELS.replace("/", ".")
            calls = (self.source.name, *(f"{models}.{m}" for m in self.deserialised_models))
            for module in unreachable_modules(target, MODELS, calls_followed=calls):
                module.unlink()
                for bytecode in module.parent.glob(f"__pycache__/{module.stem}.*.pyc"):
                    bytecode.unlink()
            for folder in sorted((target / MODELS).rglob("*"), reverse=True):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


def unreachable_modules(
    root: Path, folder: str, *, calls_followed: tuple[str, ...] = ()
) -> list[Path]:
    """Modules under `root/folder` that no runtime import statement in `root` can reach.

    Every module outside `folder` is a root: those that could name a module of `folder` (its
    package's, or any that mentions the package by name) are parsed, then the modules of
    `folder` they import, transitively. Only executable statements count: an import under
    `if TYPE_CHECKING:` never runs, and one inside a function counts only in the modules
    under `calls_followed` (module name prefixes: the code whose functions run). The
    generated code has no dynamic imports.
    """
    package = folder.replace("/", ".")
    top = package.split(".")[0]
    modules = {_module_name(root, p): p for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    inside = {name for name in modules if name.startswith(package + ".")}
    pending = [
        name
        for name, path in modules.items()
        if name not in inside and (name.split(".")[0] == top or top.encode() in path.read_bytes())
    ]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        in_functions = any(name == p or name.startswith(p + ".") for p in calls_followed)
        for imported in _runtime_imports(name, modules[name], in_functions=in_functions):
            if imported in inside and imported not in reached:
                reached.add(imported)
                pending.append(imported)
    return sorted(modules[name] for name in inside - reached)


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(name: str, path: Path, *, in_functions: bool) -> Iterator[str]:
    """Modules an import statement of the module could load, TYPE_CHECKING blocks aside, and
    function bodies too unless `in_functions`."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    pending: list[ast.AST] = [ast.parse(path.read_bytes(), str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            and not in_functions
        ):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


ENTRA_HANDLER_BUNDLE = PrunedBundle(
    source=REPO / "lambda" / "entra_saml_app",
    lock_file=REPO / "lambda" / "entra_saml_app" / "requirements.lock",
    keep_only=_keep_only(GRAPH_PATHS_USED),
    # Kiota's 37 MB description of the API, read by code generators only.
    drop=(f"{GRAPH}/kiota-dom-export.txt",),
    remove=NEVER_IMPORTED,
    prune_models=True,
    deserialised_models=DESERIALISED_MODELS,
)
