"""No config file, however malformed, gets a traceback instead of a message.

Property-based (hypothesis): arbitrary YAML-ish documents, documents with keys near the real
ones, the example config with one value mutated, and raw YAML text (duplicate keys, broken
syntax) go through `load_config_file` and `parse_config`; the only allowed outcomes are a
valid config or a ConfigError whose problems are non-empty strings.

`docs/CONFIG-ERRORS.md` lists the message of each field's invalid forms; it is generated
from ERROR_CASES below (`.venv/bin/python -m tests.test_config_fuzz > docs/CONFIG-ERRORS.md`)
and `test_config_errors_doc_matches_the_messages` re-derives every row.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.config import ConfigError, load_config_file, parse_config
from tests.conftest import REPO, example_data

EXAMPLE = REPO / "config" / "example.yaml"
DOC = REPO / "docs" / "CONFIG-ERRORS.md"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def outcome(load: Callable[[], object]) -> str:
    """'valid' or 'invalid'; any exception but ConfigError fails the test."""
    problems: list[str] | None = None
    try:
        load()
    except ConfigError as error:
        problems = error.problems
    if problems is None:
        return "valid"
    assert problems, "a ConfigError without problems"
    assert all(isinstance(p, str) and p.strip() for p in problems), problems
    return "invalid"


def load_text(directory: Path, text: str) -> str:
    path = directory / "env.yaml"
    path.write_text(text, encoding="utf-8")
    return outcome(lambda: load_config_file(path))


def load_data(directory: Path, data: Any) -> str:
    """Through parse_config directly, and as a YAML file through load_config_file."""
    direct = outcome(lambda: parse_config(copy.deepcopy(data), "env.yaml"))
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return direct
    assert load_text(directory, text) == direct
    return direct


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- strategies ------------------------------------------------------------------------------

REAL_KEYS = sorted(
    {
        "$schema", "stack_name", "stage", "account", "region", "user_pool", "name",
        "deletion_protection", "removal_policy", "domain", "prefix", "custom", "domain_name",
        "certificate_arn", "hosted_zone_id", "hosted_zone_name", "managed_login_version",
        "token_validity", "id_token_minutes", "access_token_minutes", "refresh_token_days",
        "entra", "tenant_id", "credentials_secret", "idp_name", "email_domains",
        "display_name", "cloud", "assignment_required", "assignments", "users", "groups",
        "attribute_mapping", "email", "given_name", "family_name", "retain_on_delete", "notes",
        "idp_initiated", "idp_signout", "sign_requests", "clients", "platform",
        "callback_urls", "sign_out_urls", "scopes", "oauth_flows", "generate_secret",
        "identity_providers", "allow_cognito_users", "tags", "identity_pool", "statements",
        "actions", "resources", "role_mapping_claim", "role_rules", "value", "role_arn",
        "source", "names", "add_to_cognito_groups", "monitoring", "enabled",
        "certificate_expiry_days", "check_every_hours", "alarm_topic_arn", "federation",
        "client_id", "audience", "enforce_email_domains",
    }
)  # fmt: skip

near_keys = st.one_of(
    st.sampled_from(REAL_KEYS),
    st.builds(
        lambda key, i, ch: key[:i] + ch + key[i + 1 :],
        st.sampled_from(REAL_KEYS),
        st.integers(0, 20),
        st.sampled_from(["", "_", "-", "x", "A", " ", "é"]),
    ),
    st.sampled_from(REAL_KEYS).map(str.upper),
)
any_key = st.one_of(near_keys, st.text(max_size=12), st.integers(-5, 5), st.booleans(), st.none())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["x" * 5000, "é" * 2000, "\u202e\u0000\ufeff", "", " ", "-1", "0x1F"]),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(any_key, children, max_size=5),
    ),
    max_leaves=25,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


EXAMPLE_DATA = example_data()
EXAMPLE_PATHS = _paths(EXAMPLE_DATA)


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    """The example config with a few values replaced, deleted or joined by unknown keys."""
    data = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(documents)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(near_keys)] = draw(documents)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the path
    return data


EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_LINES = EXAMPLE_TEXT.splitlines()


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """The example file's text with lines duplicated (duplicate keys), moved, deleted, or
    characters inserted and removed (broken YAML)."""
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["duplicate", "delete", "move", "insert", "cut"]))
        if action == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(i))
        elif action == "insert":
            at = draw(st.integers(0, len(lines[i])))
            bit = draw(st.sampled_from([":", "- ", "  ", "\t", "[", "{", "&a ", "*a", "'", '"']))
            lines[i] = lines[i][:at] + bit + lines[i][at:]
        elif lines[i]:
            at = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:at] + lines[i][at + 1 :]
    return "\n".join(lines) + "\n"


yaml_ish_texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=":-[]{}#&*!|>'\"%@`,? \n\tab1", max_size=120),
    documents.map(lambda d: json.dumps(d, default=str)),
)


# -- properties ------------------------------------------------------------------------------


@FUZZ
@given(documents)
def test_any_document_gives_a_config_or_messages(scratch: Path, data: Any) -> None:
    load_data(scratch, data)


@FUZZ
@given(st.dictionaries(near_keys, documents, max_size=8))
def test_documents_with_keys_near_the_real_ones_give_messages(scratch: Path, data: Any) -> None:
    load_data(scratch, data)


@FUZZ
@given(mutated_examples())
def test_mutated_example_gives_a_config_or_messages(scratch: Path, data: Any) -> None:
    load_data(scratch, data)


@FUZZ
@given(mutated_texts())
def test_mutated_example_text_gives_a_config_or_messages(scratch: Path, text: str) -> None:
    load_text(scratch, text)


@FUZZ
@given(yaml_ish_texts)
def test_arbitrary_text_gives_a_config_or_messages(scratch: Path, text: str) -> None:
    load_text(scratch, text)


def test_duplicate_key_in_the_file_is_a_message(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(EXAMPLE_TEXT + "region: eu-west-2\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_config_file(path)

    assert "found the key 'region' twice" in caught.value.problems[0]


@settings(max_examples=25, deadline=None)
@given(st.one_of(mutated_texts(), yaml_ish_texts))
def test_cli_validate_exits_0_or_1_and_never_prints_a_traceback(scratch: Path, text: str) -> None:
    path = scratch / "cli.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "validate", str(path)])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


# -- inputs that once escaped as exceptions ------------------------------------------------


def problems_in_file(tmp_path: Path, content: str | bytes) -> list[str]:
    path = tmp_path / "env.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    return caught.value.problems


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "tags: {[a]: b}\n", "? {a: 1}\n: 1\n"])
def test_yaml_key_that_is_a_list_or_mapping_is_a_message(tmp_path: Path, text: str) -> None:
    [problem] = problems_in_file(tmp_path, text)
    assert problem.startswith("not valid YAML: "), problem


def test_deeply_nested_yaml_is_a_message(tmp_path: Path) -> None:
    assert problems_in_file(tmp_path, "[" * 5000 + "]" * 5000) == [
        "the document is nested too deeply to be a config"
    ]


def test_file_that_is_not_utf8_is_a_message(tmp_path: Path) -> None:
    assert problems_in_file(tmp_path, b"stack_name: \xff\xfe\n") == ["not UTF-8 text (byte 12)"]


# -- docs/CONFIG-ERRORS.md -------------------------------------------------------------------

MISSING = "(missing)"
GUID = "aaaaaaaa-0000-4000-8000-000000000001"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12

# (field path in the example config, an invalid value or MISSING); one row of the doc each.
ERROR_CASES: list[tuple[str, Any]] = [
    ("(top level)", ["not", "a", "mapping"]),
    ("stack_nmae", "typo"),
    ("$schema", 5),
    ("stack_name", MISSING),
    ("stack_name", "1stack"),
    ("stack_name", "my_stack"),
    ("stack_name", ""),
    ("stack_name", 5),
    ("stage", "test"),
    ("account", 123456789012),
    ("account", "12345"),
    ("region", MISSING),
    ("region", "Europe"),
    ("user_pool", MISSING),
    ("user_pool", "pool"),
    ("user_pool.name", ""),
    ("user_pool.name", "pool/name"),
    ("user_pool.deletion_protection", "maybe"),
    ("user_pool.removal_policy", "keep"),
    ("user_pool", {"name": "p", "deletion_protection": True, "removal_policy": "destroy"}),
    ("domain", {}),
    ("domain", {"prefix": "a", "custom": {"domain_name": "auth.example.com",
                                          "certificate_arn": CERT}}),
    ("domain.prefix", "My_Pool"),
    ("domain.prefix", "-pool"),
    ("domain.prefix", "my-aws-pool"),
    ("domain.managed_login_version", 3),
    ("domain", {"custom": {"domain_name": "https://auth.example.com", "certificate_arn": CERT}}),
    ("domain", {"custom": {"domain_name": "auth.example.com", "certificate_arn": "arn:x"}}),
    ("domain", {"custom": {"domain_name": "a" * 55 + ".example.com", "certificate_arn": CERT}}),
    ("domain", {"custom": {"domain_name": "auth.example.com",
                           "certificate_arn": CERT.replace("us-east-1", "eu-west-1")}}),
    ("domain", {"custom": {"domain_name": "auth.example.com", "certificate_arn": CERT,
                           "hosted_zone_id": "zone"}}),
    ("domain", {"custom": {"domain_name": "auth.example.com", "certificate_arn": CERT,
                           "hosted_zone_id": "Z123", "hosted_zone_name": "example.org"}}),
    ("token_validity.id_token_minutes", 4),
    ("token_validity.id_token_minutes", 1441),
    ("token_validity.id_token_minutes", "sixty"),
    ("token_validity.access_token_minutes", 0),
    ("token_validity.refresh_token_days", 0),
    ("token_validity.refresh_token_days", 3651),
    ("token_validity.refresh_token_days", 1.5),
    ("entra", "tenant"),
    ("entra[0].tenant_id", MISSING),
    ("entra[0].tenant_id", "contoso.onmicrosoft.com"),
    ("entra[0].credentials_secret", MISSING),
    ("entra[0].credentials_secret", "my secret"),
    ("entra[0].credentials_secret", "arn:aws:secretsmanager:eu-west-1:1:secret:x"),
    ("entra[0].federation", {}),
    ("entra[0].federation", {"client_id": GUID}),
    ("entra[0].federation", {"client_id": "deployer"}),
    ("entra[0].federation", {"client_id": GUID, "audience": ""}),
    ("entra[0].idp_name", "ab"),
    ("entra[0].idp_name", "_Entra"),
    ("entra[0].idp_name", "Contoso EU"),
    ("entra[0].idp_name", "Entra_ID"),
    ("entra[0].idp_name", "Contoso,EU"),
    ("entra[0].idp_name", "Entra\U0001f642" * 5),
    ("entra[0].idp_name", "Google"),
    ("entra[0].email_domains", ["@contoso.com"]),
    ("entra[0].email_domains", ["Contoso.com"]),
    ("entra[0].email_domains", ["contoso.com", "contoso.com"]),
    ("entra[0].email_domains", ["a-very-long-subdomain.of-contoso.example.com"]),
    ("entra[0].email_domains", [f"d{i}.example.com" for i in range(51)]),
    ("entra[0].display_name", ""),
    ("entra[0].cloud", "azure"),
    ("entra[0].assignment_required", "maybe"),
    ("entra[0].assignments.users", ["alice"]),
    ("entra[0].assignments.groups", [GUID, GUID]),
    ("entra[0].attribute_mapping.email", "email address"),
    ("entra[0].attribute_mapping.name", ""),
    ("entra[0].retain_on_delete", "maybe"),
    ("entra[0].notes", 5),
    ("entra[0].idp_initiated", "sometimes"),
    ("entra[0].idp_initiated", True),
    ("entra[0].idp_initiated_client", "web"),
    ("entra[0].sign_requests", "maybe"),
    ("entra[0].enforce_email_domains", "maybe"),
    ("entra[0].enforce_email_domains", True),
    ("entra", [{"tenant_id": GUID, "credentials_secret": "s", "idp_name": "Contoso"},
               {"tenant_id": GUID, "credentials_secret": "s", "idp_name": "contoso"}]),
    ("entra", [{"tenant_id": GUID, "credentials_secret": "s", "idp_name": "Contoso.EU"},
               {"tenant_id": GUID, "credentials_secret": "s", "idp_name": "Contoso-EU"}]),
    ("entra", [{"tenant_id": GUID, "credentials_secret": "s", "idp_name": "One",
                "email_domains": ["contoso.com"]},
               {"tenant_id": GUID, "credentials_secret": "s", "idp_name": "Two",
                "email_domains": ["contoso.com"]}]),
    ("clients", []),
    ("clients[0].name", "iOS"),
    ("clients[0].name", "ios--app"),
    ("clients[1].name", "ios"),
    ("clients[1].name", "i-os"),
    ("clients[0].platform", "windows"),
    ("clients[0].callback_urls", []),
    ("clients[0].callback_urls", ["http://app.example.com/cb"]),
    ("clients[0].callback_urls", ["https://app.example.com/cb#top"]),
    ("clients[0].callback_urls", ["javascript:alert(1)"]),
    ("stage, clients[0].callback_urls", ["prod", ["http://localhost:8400/callback"]]),
    ("clients[0].allow_loopback_callbacks", "maybe"),
    ("clients[0].callback_urls", ["/callback"]),
    ("clients[0].callback_urls", ["https:///cb"]),
    ("clients[0].callback_urls", ["myapp:"]),
    ("clients[0].callback_urls", ["myapp://call back"]),
    ("clients[0].callback_urls", ["myapp://call\u200bback"]),
    ("clients[0].callback_urls", ["https://app.example.com/" + "x" * 1001]),
    ("clients[0].sign_out_urls", ["myapp://out", "myapp://out"]),
    ("clients[0].scopes", ["emial", "openid"]),
    ("clients[0].scopes", ["email"]),
    ("clients[0].scopes", []),
    ("clients[0].scopes", ["openid", "orders/read"]),
    ("clients[0].scopes", ["openid", "api/" + "x" * 253]),
    ("resource_servers, clients[0].scopes",
     [[{"identifier": "orders", "name": "Orders", "scopes": [{"name": "read",
                                                              "description": "Read"}]}],
      ["openid", "orders/write"]]),
    ("resource_servers", [{"identifier": "orders api", "name": "Orders"}]),
    ("resource_servers", [{"identifier": "orders", "name": "Orders/API"}]),
    ("resource_servers", [{"identifier": "orders", "name": "Orders",
                           "scopes": [{"name": "read/all", "description": "Read"}]}]),
    ("resource_servers", [{"identifier": "orders", "name": "Orders",
                           "scopes": [{"name": "read", "description": "Read"},
                                      {"name": "read", "description": "Again"}]}]),
    ("resource_servers", [{"identifier": "orders", "name": "A"},
                          {"identifier": "orders", "name": "B"}]),
    ("clients[0].oauth_flows", ["client_credentials"]),
    ("clients[0].generate_secret", "maybe"),
    ("clients[0].identity_providers", ["Okta"]),
    ("clients[0].allow_cognito_users", "maybe"),
    ("clients[0].token_validity", {"id_token_minutes": 1}),
    ("clients[0].colour", "blue"),
    ("monitoring.enabled", "maybe"),
    ("monitoring.certificate_expiry_days", 0),
    ("monitoring.certificate_expiry_days", 366),
    ("monitoring.check_every_hours", 25),
    ("monitoring.alarm_topic_arn", "alerts"),
    ("monitoring.interval", 5),
    ("tags", {"aws:owner": "me"}),
    ("tags", {"owner": "x" * 257}),
    ("tags", {"team": "a, b"}),
    ("tags", {"team": ""}),
    ("tags", {f"k{i}": "v" for i in range(51)}),
    ("tags", ["project"]),
    ("groups", {"source": "everything"}),
    ("groups", {"names": {"admins": "admins"}}),
    ("groups", {"names": {f"aaaaaaaa-0000-4000-8000-{i:012d}": "n" * 40 for i in range(40)}}),
    ("identity_pool", {"statements": [{"actions": ["*"], "resources": ["arn:aws:s3:::b/*"]}]}),
    ("identity_pool", {"statements": [{"actions": ["s3:GetObject"], "resources": ["*"]}]}),
    (
        "identity_pool",
        {"role_rules": [{"value": "admins", "role_arn": "arn:aws:iam::1:role/x"}]},
    ),
    ("identity_pool", {"role_mapping_claim": "cognito groups"}),
]  # fmt: skip

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _path_parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PART.findall(path)]


def problems_for(path: str, value: Any) -> list[str]:
    """What parse_config says when the example config holds `value` at `path`. A rule that
    spans two fields names both, `"a, b"`, with the list of their values."""
    data: Any = copy.deepcopy(EXAMPLE_DATA)
    if path == "(top level)":
        data = value
    else:
        paths = path.split(", ")
        values = value if len(paths) > 1 else [value]
        for one_path, one_value in zip(paths, values, strict=True):
            *parents, last = _path_parts(one_path)
            parent = data
            for part in parents:
                parent = parent[part]
            if one_value == MISSING:
                del parent[last]
            else:
                parent[last] = copy.deepcopy(one_value)
    try:
        parse_config(data, "env.yaml")
    except ConfigError as error:
        return error.problems
    raise AssertionError(f"{path}: {value!r} is valid")


def _cell(text: str) -> str:
    assert "`" not in text, text
    return "`" + text.replace("|", "\\|") + "`"


def _uncell(cell: str) -> str:
    return cell.strip().removeprefix("`").removesuffix("`").replace("\\|", "|")


def _value_text(value: Any) -> str:
    return MISSING if value == MISSING else json.dumps(value, ensure_ascii=False)


def render_doc() -> str:
    rows = [
        f"| {_cell(path)} | {_cell(_value_text(value))} | "
        + "<br>".join(_cell(p) for p in problems_for(path, value))
        + " |"
        for path, value in ERROR_CASES
    ]
    return "\n".join([*DOC_HEAD, *rows, ""])


DOC_HEAD = [
    "# Config errors",
    "",
    "Every config field's invalid forms and the exact message `mobile-sso config validate` and",
    "synth print for each, as `FILE: ` followed by the message. Each row is the example",
    "config (`config/example.yaml`) with one value changed: the *Value* column is that value",
    "as YAML (JSON flow syntax; `(missing)` means the key is removed). A rule that spans two",
    "fields changes both: the *Field* column names them and the *Value* column lists their",
    "values in that order. Malformed YAML itself",
    "gets one message, `not valid YAML: ...`, with the line and column; a key written twice",
    "gets `not valid YAML: ... found the key 'KEY' twice (first on line N)`; a key that is a",
    "list or mapping gets `not valid YAML: ...` too; absurd nesting gets `the document is",
    "nested too deeply to be a config`; a file that is not UTF-8 gets `not UTF-8 text (byte",
    "N)`.",
    "",
    "Generated from `ERROR_CASES` in `tests/test_config_fuzz.py`:",
    "`.venv/bin/python -m tests.test_config_fuzz > docs/CONFIG-ERRORS.md`.",
    "`test_config_errors_doc_matches_the_messages` re-derives every row, so a changed message",
    "fails the tests until this file is regenerated.",
    "",
    "| Field | Value | Message |",
    "|---|---|---|",
]


def _doc_rows() -> list[tuple[str, str, list[str]]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        assert len(cells) == 3, line
        path, value, messages = cells
        rows.append((_uncell(path), _uncell(value), [_uncell(m) for m in messages.split("<br>")]))
    return rows


_ALLOWED_KEYS = re.compile(r"\(allowed here: [^)]*\)")


def _stable(messages: list[str]) -> list[str]:
    """Messages without the unknown-key hint's list of allowed keys, which grows with
    every new config section."""
    return [_ALLOWED_KEYS.sub("(allowed here: ...)", m) for m in messages]


def test_config_errors_doc_matches_the_messages() -> None:
    rows = _doc_rows()
    assert len(rows) == len(ERROR_CASES), "regenerate docs/CONFIG-ERRORS.md"
    for path, value_text, messages in rows:
        value = MISSING if value_text == MISSING else yaml.safe_load(value_text)
        derived = problems_for(path, value)
        assert _stable(derived) == _stable(messages), f"{path}: {value_text}"


def test_config_errors_doc_lists_every_case() -> None:
    listed = {(path, value) for path, value, _ in _doc_rows()}
    wanted = {(path, _value_text(value)) for path, value in ERROR_CASES}
    assert listed == wanted, "regenerate docs/CONFIG-ERRORS.md"


if __name__ == "__main__":
    print(render_doc(), end="")
