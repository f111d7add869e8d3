"""The local bundler: a content key that changes with the content and nothing else."""

from __future__ import annotations

from pathlib import Path

from sso_constructs.bundling import PythonBundle
from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE, unreachable_modules


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
    generated = bundle / "msgraph" / "generated"
    kept = sorted(p.name for p in generated.iterdir() if p.is_dir())
    assert [k for k in kept if k != "__pycache__"] == [
        "application_templates",
        "applications",
        "directory",
        "models",
        "service_principals",
    ]
    builders = sorted(
        p.relative_to(generated).as_posix()
        for p in generated.rglob("*_request_builder.py")
        if "models" not in p.parts
    )
    assert builders == [
        "application_templates/application_templates_request_builder.py",
        "application_templates/item/application_template_item_request_builder.py",
        "application_templates/item/instantiate/instantiate_request_builder.py",
        "applications/applications_request_builder.py",
        "applications/item/application_item_request_builder.py",
        "directory/deleted_items/deleted_items_request_builder.py",
        "directory/deleted_items/graph_application/graph_application_request_builder.py",
        "directory/deleted_items/item/directory_object_item_request_builder.py",
        "directory/directory_request_builder.py",
        "service_principals/item/add_token_signing_certificate/"
        "add_token_signing_certificate_request_builder.py",
        "service_principals/item/app_role_assigned_to/app_role_assigned_to_request_builder.py",
        "service_principals/item/app_role_assigned_to/item/"
        "app_role_assignment_item_request_builder.py",
        "service_principals/item/service_principal_item_request_builder.py",
        "service_principals/service_principals_request_builder.py",
    ]
    assert not (generated / "kiota-dom-export.txt").exists()
    assert not (bundle / "boto3").exists(), "the Lambda runtime provides boto3"


def test_entra_bundle_leaves_out_what_the_handler_never_imports() -> None:
    bundle = ENTRA_HANDLER_BUNDLE.cached_build()
    for gone in ("aiohttp", "multidict", "yarl", "frozenlist", "propcache", "attr", "cffi"):
        assert not (bundle / gone).exists(), gone
    assert not (bundle / "opentelemetry" / "sdk").exists()
    assert not (bundle / "opentelemetry" / "semconv" / "_incubating").exists()
    assert not list(bundle.glob("*.dist-info/RECORD"))
    # What stays because it is loaded: cryptography's Rust extension imports _cffi_backend;
    # kiota reads its version from METADATA, OpenTelemetry its context from entry points.
    assert list(bundle.glob("_cffi_backend.*.so"))
    assert (bundle / "opentelemetry" / "semconv" / "attributes" / "http_attributes.py").exists()
    assert list(bundle.glob("microsoft_kiota_http-*.dist-info/METADATA"))
    assert list(bundle.glob("opentelemetry_api-*.dist-info/entry_points.txt"))


def test_entra_bundle_keeps_only_the_error_models() -> None:
    models = ENTRA_HANDLER_BUNDLE.cached_build() / "msgraph" / "generated" / "models"
    kept = sorted(p.relative_to(models).as_posix() for p in models.rglob("*.py"))
    assert kept == [
        "o_data_errors/error_details.py",
        "o_data_errors/inner_error.py",
        "o_data_errors/main_error.py",
        "o_data_errors/o_data_error.py",
    ]
    for name in kept:
        stem = name.removesuffix(".py")
        assert list(models.glob(f"{Path(stem).parent}/__pycache__/{Path(stem).name}.*.pyc"))


def _sdk_like_tree(root: Path) -> None:
    models = root / "sdk" / "models"
    models.mkdir(parents=True)
    (root / "app.py").write_text("from sdk.models.a import A\n")
    (models / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .b import B\n"
        "else:\n    from .c import C\n"
        "def deserializers():\n    from .e import E\n"
    )
    for name, body in {"b": "from .d import D\n", "c": "", "d": "", "e": ""}.items():
        (models / f"{name}.py").write_text(body)


def test_unreachable_modules_follow_module_level_executable_imports(tmp_path: Path) -> None:
    _sdk_like_tree(tmp_path)
    unreachable = unreachable_modules(tmp_path, "sdk/models")
    assert [p.name for p in unreachable] == ["b.py", "d.py", "e.py"]


def test_unreachable_modules_follow_function_imports_of_the_code_named(tmp_path: Path) -> None:
    _sdk_like_tree(tmp_path)
    unreachable = unreachable_modules(tmp_path, "sdk/models", calls_followed=("sdk.models.a",))
    assert [p.name for p in unreachable] == ["b.py", "d.py"]


def test_entra_bundle_carries_the_handler_sources() -> None:
    bundle = ENTRA_HANDLER_BUNDLE.cached_build()
    shipped = {p.name for p in (bundle / "entra_saml_app").glob("*.py")}
    assert shipped == {
        p.name for p in ENTRA_HANDLER_BUNDLE.source_files() if p.parent.name == "entra_saml_app"
    }
