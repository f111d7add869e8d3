"""The local bundler: a content key that changes with the content and nothing else."""

from __future__ import annotations

from pathlib import Path

from sso_constructs.bundling import PythonBundle
from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE


def package_in(root: Path) -> PythonBundle:
    source = root / "src" / "handler_pkg"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "handler.py").write_text("def on_event(event, context):\n    return {}\n")
    lock = root / "src" / "requirements.lock"
    lock.write_text("")
    return PythonBundle(source=source, lock_file=lock)


def test_content_key_is_the_same_in_another_clone(tmp_path: Path) -> None:
    first = package_in(tmp_path / "clone-a")
    second = package_in(tmp_path / "clone-b")
    assert first.content_key == second.content_key


def test_bytecode_caches_do_not_change_the_content_key(tmp_path: Path) -> None:
    clean = package_in(tmp_path / "a").content_key
    with_cache = package_in(tmp_path / "b")
    (with_cache.source / "__pycache__").mkdir()
    (with_cache.source / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\0" * 16)
    assert with_cache.content_key == clean


def test_a_source_change_changes_the_content_key(tmp_path: Path) -> None:
    before = package_in(tmp_path / "a").content_key
    changed = package_in(tmp_path / "b")
    (changed.source / "handler.py").write_text("def on_event(event, context):\n    return 1\n")
    assert changed.content_key != before


def test_a_lock_change_changes_the_content_key(tmp_path: Path) -> None:
    before = package_in(tmp_path / "a").content_key
    changed = package_in(tmp_path / "b")
    changed.lock_file.write_text("msgraph-sdk==1.65.0\n")
    assert changed.content_key != before


def test_entra_bundle_keeps_only_the_graph_builders_the_handler_uses() -> None:
    bundle = ENTRA_HANDLER_BUNDLE.cached_build()
    kept = sorted(p.name for p in (bundle / "msgraph" / "generated").iterdir() if p.is_dir())
    assert [k for k in kept if k != "__pycache__"] == [
        "application_templates",
        "applications",
        "directory",
        "models",
        "service_principals",
    ]
    assert not (bundle / "msgraph" / "generated" / "kiota-dom-export.txt").exists()
    assert not (bundle / "boto3").exists(), "the Lambda runtime provides boto3"


def test_entra_bundle_carries_the_handler_sources() -> None:
    bundle = ENTRA_HANDLER_BUNDLE.cached_build()
    shipped = {p.name for p in (bundle / "entra_saml_app").glob("*.py")}
    assert shipped == {
        p.name for p in ENTRA_HANDLER_BUNDLE.source_files() if p.parent.name == "entra_saml_app"
    }
