"""`mobile-sso plan`: each change to a config gets the verdict it means for people signing in.

Each pair is two configs synthesized in-process (base and head), compared offline.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from mobile_sso.cli import app
from mobile_sso.config import load_config, parse_config
from mobile_sso.outputs import BUNDLE_METADATA
from mobile_sso.plan import (
    Change,
    Plan,
    PlanError,
    Verdict,
    compare,
    create_only_properties,
    markdown,
)
from tests.conftest import data_of, example_data, template_of

STACK = "MobileSso-Example"
runner = CliRunner()


def synth(data: dict[str, Any]) -> dict[str, Any]:
    return dict(template_of(parse_config(data, "test.yaml")).to_json())


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return dict(template_of(load_config("example")).to_json())


def plan_of(base: dict[str, Any], **changes: Any) -> Plan:
    data = example_data()
    data.update(changes)
    return compare(base, synth(data))


def titles(plan: Plan, verdict: Verdict) -> list[str]:
    return [c.title for c in plan.changes if c.verdict is verdict]


def only_breaking(plan: Plan) -> Change:
    breaking = [c for c in plan.changes if c.verdict is Verdict.BREAKING]
    assert len(breaking) == 1, [c.title for c in breaking]
    return breaking[0]


# --- the pairs -------------------------------------------------------------------------


def test_nothing_changed_gives_no_changes(base: dict[str, Any]) -> None:
    assert plan_of(base).changes == ()


def test_an_idp_rename_is_one_breaking_change_naming_both_names(base: dict[str, Any]) -> None:
    data = example_data()
    data["entra"][0]["idp_name"] = "Contoso"

    plan = compare(base, synth(data))

    rename = next(c for c in plan.changes if c.title == "IdP rename EntraID -> Contoso")
    assert rename.verdict is Verdict.BREAKING
    assert "new user" in rename.explanation
    assert "cognito-user-pools-identity-federation" in rename.source


def test_an_idp_rename_also_replaces_the_entra_application(base: dict[str, Any]) -> None:
    data = example_data()
    data["entra"][0]["idp_name"] = "Contoso"

    plan = compare(base, synth(data))

    assert sorted(titles(plan, Verdict.BREAKING)) == [
        "Entra application replaced (tenant 00000000-0000-0000-0000-000000000000)",
        "IdP rename EntraID -> Contoso",
    ]


def test_a_removed_client_is_breaking_for_released_apps(base: dict[str, Any]) -> None:
    data = example_data()
    data["clients"] = [c for c in data["clients"] if c["name"] != "android"]

    change = only_breaking(compare(base, synth(data)))

    assert change.title == "client removed android"
    assert "stores" in change.explanation


def test_a_removed_callback_url_is_breaking(base: dict[str, Any]) -> None:
    data = example_data()
    data["clients"][0]["callback_urls"] = ["com.example.mobilesso://auth"]

    change = only_breaking(compare(base, synth(data)))

    assert change.title == "client ios callback URL removed: com.example.mobilesso://callback"


def test_an_added_callback_url_is_safe(base: dict[str, Any]) -> None:
    data = example_data()
    data["clients"][0]["callback_urls"].append("com.example.mobilesso://auth")

    plan = compare(base, synth(data))

    assert plan.changes
    assert {c.verdict for c in plan.changes} == {Verdict.SAFE}


def test_a_domain_prefix_change_is_breaking(base: dict[str, Any]) -> None:
    data = example_data()
    data["domain"] = {"prefix": "mobile-sso-example-9b2c"}

    plan = compare(base, synth(data))

    assert titles(plan, Verdict.BREAKING) == [
        "domain change mobile-sso-example-7f3a -> mobile-sso-example-9b2c"
    ]
    assert "Entra application (tenant 00000000-0000-0000-0000-000000000000) URLs changed" in (
        " ".join(titles(plan, Verdict.REVIEW))
    )


def test_a_removed_entra_tenant_is_breaking_for_its_users(base: dict[str, Any]) -> None:
    multi = load_config("example-multitenant")
    data = data_of(multi)
    removed = data["entra"].pop()
    for client in data["clients"]:
        if "identity_providers" in client:
            client["identity_providers"] = [
                p for p in client["identity_providers"] if p != removed["idp_name"]
            ]

    plan = compare(dict(template_of(multi).to_json()), synth(data))

    assert sorted(titles(plan, Verdict.BREAKING)) == sorted(
        [
            f"IdP removed {removed['idp_name']}",
            f"Entra application removed (tenant {removed['tenant_id']})",
        ]
    )


def test_an_attribute_mapping_change_is_for_review(base: dict[str, Any]) -> None:
    data = example_data()
    data["entra"][0]["attribute_mapping"]["name"] = (
        "http://schemas.microsoft.com/identity/claims/displayname"
    )

    plan = compare(base, synth(data))

    assert titles(plan, Verdict.BREAKING) == []
    assert titles(plan, Verdict.REVIEW) == ["IdP EntraID attribute mapping changed"]


def test_a_widened_identity_pool_role_is_for_review() -> None:
    data = example_data()
    data["identity_pool"] = {
        "statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::bucket/*"]}]
    }
    widened = copy.deepcopy(data)
    widened["identity_pool"]["statements"].append(
        {"actions": ["s3:PutObject"], "resources": ["arn:aws:s3:::bucket/*"]}
    )

    plan = compare(synth(data), synth(widened))

    assert titles(plan, Verdict.BREAKING) == []
    assert any(t.startswith("permissions changed") for t in titles(plan, Verdict.REVIEW))


def test_changed_tags_are_safe(base: dict[str, Any]) -> None:
    data = example_data()
    data["tags"] = {**data["tags"], "cost-center": "1234"}

    plan = compare(base, synth(data))

    assert plan.changes
    assert {c.verdict for c in plan.changes} == {Verdict.SAFE}


def test_a_locked_pool_sign_in_setting_is_breaking(base: dict[str, Any]) -> None:
    head = copy.deepcopy(base)
    pool = next(r for r in head["Resources"].values() if r["Type"] == "AWS::Cognito::UserPool")
    pool["Properties"]["UsernameConfiguration"] = {"CaseSensitive": True}

    change = only_breaking(compare(base, head))

    assert change.title == "user pool mobile-sso-example sign-in settings changed " + (
        "(UsernameConfiguration)"
    )
    assert "cognito-user-pools-updating" in change.source


def test_a_required_attribute_added_to_the_pool_is_breaking(base: dict[str, Any]) -> None:
    head = copy.deepcopy(base)
    pool = next(r for r in head["Resources"].values() if r["Type"] == "AWS::Cognito::UserPool")
    pool["Properties"]["Schema"].append({"Name": "name", "Required": True, "Mutable": True})

    change = only_breaking(compare(base, head))

    assert change.title == "user pool mobile-sso-example attributes changed (name)"


def test_a_client_secret_turned_on_replaces_the_client(base: dict[str, Any]) -> None:
    data = example_data()
    data["clients"][1]["generate_secret"] = True

    plan = compare(base, synth(data))

    assert "client replaced android" in titles(plan, Verdict.BREAKING)


def test_replacement_comes_from_the_registry_schemas_create_only_properties() -> None:
    assert create_only_properties("AWS::Cognito::UserPoolClient") == {
        "GenerateSecret",
        "UserPoolId",
    }
    assert "ProviderName" in create_only_properties("AWS::Cognito::UserPoolIdentityProvider")
    assert create_only_properties("Custom::EntraSamlApplication") == frozenset()


def test_a_template_without_resources_is_refused() -> None:
    with pytest.raises(PlanError, match="base template has no Resources"):
        compare({}, {"Resources": {}})


# --- acknowledgments -------------------------------------------------------------------


def test_an_acknowledged_breaking_change_no_longer_counts(base: dict[str, Any]) -> None:
    data = example_data()
    data["entra"][0]["idp_name"] = "Contoso"

    replaced = "Entra application replaced (tenant 00000000-0000-0000-0000-000000000000)"
    accepted = ["IdP rename EntraID -> Contoso", replaced, "client removed ios"]

    plan = compare(base, synth(data), accepted)

    assert plan.unacknowledged_breaking == ()
    assert plan.acknowledgments_used == (replaced, "IdP rename EntraID -> Contoso")
    assert plan.acknowledgments_unused == ("client removed ios",)


# --- the command -----------------------------------------------------------------------


@pytest.fixture
def templates(tmp_path: Path, base: dict[str, Any]) -> tuple[Path, Path]:
    data = example_data()
    data["entra"][0]["idp_name"] = "Contoso"
    head = tmp_path / "head"
    head.mkdir()
    (head / f"{STACK}.template.json").write_text(json.dumps(synth(data)))
    base_file = tmp_path / "base.template.json"
    base_file.write_text(json.dumps(base))
    return base_file, head


def test_command_exits_1_on_a_breaking_change_and_names_it(templates: tuple[Path, Path]) -> None:
    base_file, head = templates

    result = runner.invoke(
        app, ["plan", "--env", "example", "--base", str(base_file), "--head", str(head)]
    )

    assert result.exit_code == 1, result.output
    assert "IdP rename EntraID -> Contoso" in result.stdout
    assert "2 breaking change(s)" in result.stdout


def test_command_exits_0_when_the_config_acknowledges_the_change(
    templates: tuple[Path, Path], tmp_path: Path
) -> None:
    base_file, head = templates
    data = example_data()
    data["accept_breaking"] = [
        "IdP rename EntraID -> Contoso",
        "Entra application replaced (tenant 00000000-0000-0000-0000-000000000000)",
    ]
    config = tmp_path / "acknowledged.yaml"
    config.write_text(json.dumps(data))

    result = runner.invoke(
        app,
        [
            *("plan", "--env", "example", "--config", str(config)),
            *("--base", str(base_file), "--head", str(head), "--json"),
        ],
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["breaking"] == 0
    assert "IdP rename EntraID -> Contoso" in document["acknowledgments_used"]


def test_command_without_a_head_template_is_bad_usage(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["plan", "--env", "example", "--base", str(tmp_path), "--head", str(tmp_path / "none")],
    )

    assert result.exit_code == 2
    assert "synthesize it first" in result.stderr


def test_command_compares_with_the_deployed_stacks_template(
    templates: tuple[Path, Path],
) -> None:
    _, head = templates
    with mock_aws():
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName=STACK,
            TemplateBody=json.dumps({"Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}}}),
        )
        result = runner.invoke(app, ["plan", "--env", "example", "--head", str(head), "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert "AWS::SNS::Topic removed Placeholder" in [c["title"] for c in document["changes"]]


def test_command_reports_a_stack_that_is_not_deployed(templates: tuple[Path, Path]) -> None:
    _, head = templates
    with mock_aws():
        result = runner.invoke(app, ["plan", "--env", "example", "--head", str(head)])

    assert result.exit_code == 2
    assert "MobileSso-Example is not deployed" in result.stderr
    assert "--new-stack-ok" in result.stderr


# --- the pull-request comment ----------------------------------------------------------


def test_the_comment_puts_the_verdict_table_first_and_collapses_safe_changes(
    templates: tuple[Path, Path],
) -> None:
    base_file, head = templates
    plan = compare(
        json.loads(base_file.read_text()),
        json.loads((head / f"{STACK}.template.json").read_text()),
    )

    text = markdown(plan, "prod", diff="Resources\n[-] AWS::Cognito::UserPoolIdentityProvider")

    lines = text.splitlines()
    assert lines[0] == "<!-- mobile-sso-plan:prod -->"
    table = lines.index("| Verdict | Change | What it means |")
    assert table < text.splitlines().index("<details><summary>cdk diff</summary>")
    assert "| :red_circle: breaking | IdP rename EntraID -> Contoso |" in text
    assert "safe change(s)</summary>" in text


def test_a_diff_with_backticks_cannot_close_the_comments_code_fence() -> None:
    text = markdown(Plan(()), "dev", diff="a ``` b ```` c")

    assert "\n`````\na ``` b ```` c\n`````\n" in text


def test_command_writes_the_comment_for_the_workflow(
    templates: tuple[Path, Path], tmp_path: Path
) -> None:
    base_file, head = templates
    comment = tmp_path / "comment.md"
    diff = tmp_path / "diff.txt"
    diff.write_text("Stack MobileSso-Example\n")

    result = runner.invoke(
        app,
        [
            *("plan", "--env", "example", "--base", str(base_file), "--head", str(head)),
            *("--markdown", str(comment), "--diff-file", str(diff)),
        ],
    )

    assert result.exit_code == 1
    assert "Stack MobileSso-Example" in comment.read_text()


def test_command_plans_a_first_deploy_against_nothing_when_asked(
    templates: tuple[Path, Path],
) -> None:
    _, head = templates
    with mock_aws():
        result = runner.invoke(
            app, ["plan", "--env", "example", "--head", str(head), "--new-stack-ok", "--json"]
        )

    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["changes"]
    assert changes
    assert {c["verdict"] for c in changes} <= {"safe", "review"}


def test_moving_an_entra_application_to_another_cloud_is_breaking(base: dict[str, Any]) -> None:
    data = example_data()
    data["entra"][0]["cloud"] = "usgov"

    plan = compare(base, synth(data))

    assert "Entra application moved to another cloud (tenant " + (
        "00000000-0000-0000-0000-000000000000)"
    ) in titles(plan, Verdict.BREAKING)


def bundled_functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    functions = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and BUNDLE_METADATA in r.get("Metadata", {})
    ]
    assert functions, "no bundled function in the template"
    return functions


def test_a_bundle_that_lost_only_its_bytecode_is_named_as_such(base: dict[str, Any]) -> None:
    head = copy.deepcopy(base)
    for function in bundled_functions(head):
        function["Metadata"][BUNDLE_METADATA]["bytecode"] = False
        function["Properties"]["Code"]["S3Key"] = "0" * 64 + ".zip"

    plan = compare(base, head)

    reviewed = titles(plan, Verdict.REVIEW)
    assert reviewed
    assert all(t.endswith(": bytecode dropped (same source)") for t in reviewed)
    assert not [t for t in titles(plan, Verdict.SAFE) if "Code" in t]


def test_a_bundle_whose_source_changed_is_a_code_change(base: dict[str, Any]) -> None:
    head = copy.deepcopy(base)
    function = bundled_functions(head)[0]
    function["Metadata"][BUNDLE_METADATA] = {"source": "another", "bytecode": False}
    function["Properties"]["Code"]["S3Key"] = "0" * 64 + ".zip"

    plan = compare(base, head)

    assert [c.title for c in plan.changes if "bytecode" in c.title] == []
    assert any("(Code)" in t for t in titles(plan, Verdict.SAFE))


def test_every_bundled_function_records_its_source_and_bytecode(base: dict[str, Any]) -> None:
    for function in bundled_functions(base):
        recorded = function["Metadata"][BUNDLE_METADATA]
        assert len(recorded["source"]) == 64
        assert isinstance(recorded["bytecode"], bool)
