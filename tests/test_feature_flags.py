"""cdk.json's feature flags are the pinned aws-cdk-lib's recommended set (docs/FEATURE-FLAGS.md)."""

from __future__ import annotations

import json
import tarfile
from functools import cache
from importlib.metadata import version
from importlib.resources import files
from typing import Any

from tests.conftest import REPO, cdk_json_context

# Where cdk.json keeps a value other than the recommendation; each has its reason in
# docs/FEATURE-FLAGS.md.
DEPARTURES: dict[str, Any] = {
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": False,
    "@aws-cdk/core:target-partitions": ["aws", "aws-cn", "aws-us-gov"],
    "@aws-cdk/cognito:logUserPoolClientSecretValue": False,
}
NOT_FLAGS = {"env"}  # app context of our own, read by app.py


@cache
def recommended_flags() -> dict[str, Any]:
    """The flags `cdk init` writes for the installed aws-cdk-lib, from the library itself."""
    bundle = files("aws_cdk._jsii") / f"aws-cdk-lib@{version('aws-cdk-lib')}.jsii.tgz"
    with bundle.open("rb") as raw, tarfile.open(fileobj=raw) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, Any] = json.load(member)
    return flags


def test_cdk_json_sets_every_flag_the_pinned_aws_cdk_lib_recommends() -> None:
    missing = sorted(set(recommended_flags()) - set(cdk_json_context()))
    assert missing == [], f"aws-cdk-lib {version('aws-cdk-lib')} recommends these too: {missing}"


def test_cdk_json_keeps_the_recommended_values_except_the_documented_departures() -> None:
    context = cdk_json_context()
    differing = {
        flag: context[flag]
        for flag, value in recommended_flags().items()
        if flag in context and context[flag] != value
    }
    assert differing == {k: v for k, v in DEPARTURES.items() if k in recommended_flags()}


def test_cdk_json_holds_no_key_the_pinned_aws_cdk_lib_does_not_read() -> None:
    unknown = set(cdk_json_context()) - set(recommended_flags()) - set(DEPARTURES) - NOT_FLAGS
    assert unknown == set()


def test_cdk_json_sets_each_departure_to_its_documented_value() -> None:
    context = cdk_json_context()
    assert {flag: context.get(flag) for flag in DEPARTURES} == DEPARTURES


def test_every_departure_has_its_reason_in_the_docs() -> None:
    notes = (REPO / "docs" / "FEATURE-FLAGS.md").read_text()
    assert [flag for flag in DEPARTURES if f"| `{flag}` |" not in notes] == []
