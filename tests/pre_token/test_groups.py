"""groups.py: the attribute string Cognito stores, read back into groups; the environment."""

from __future__ import annotations

import pytest
from pre_token_groups.groups import ConfigError, Settings, parse_groups, resolve

ADMINS = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
PILOTS = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"


def test_bracketed_multi_value_form_is_split_and_trimmed() -> None:
    assert parse_groups(f"[{ADMINS}, {PILOTS}]") == [ADMINS, PILOTS]


def test_bracketed_form_without_spaces_is_split() -> None:
    assert parse_groups(f"[{ADMINS},{PILOTS}]") == [ADMINS, PILOTS]


def test_bracketed_values_are_url_decoded() -> None:
    # Cognito form-encodes the values of a multi-valued attribute: a comma is %2C in there.
    assert parse_groups("[Sales%2C+EMEA, Ops]") == ["Sales, EMEA", "Ops"]


def test_single_value_has_no_brackets() -> None:
    assert parse_groups(ADMINS) == [ADMINS]


def test_plain_comma_separated_list_is_split() -> None:
    assert parse_groups(f"{ADMINS} , {PILOTS}") == [ADMINS, PILOTS]


def test_json_array_of_strings_is_read_as_json() -> None:
    assert parse_groups(f'["{ADMINS}", "{PILOTS}"]') == [ADMINS, PILOTS]


@pytest.mark.parametrize("raw", [None, "", "   ", "[]", "[ ]", ",", "[ , ]"])
def test_empty_forms_mean_no_groups(raw: str | None) -> None:
    assert parse_groups(raw) == []


def test_duplicates_are_dropped_keeping_the_first() -> None:
    assert parse_groups(f"[{PILOTS}, {ADMINS}, {PILOTS}]") == [PILOTS, ADMINS]


def test_mapping_keys_match_ids_in_any_case() -> None:
    settings = Settings.from_env({"GROUP_NAMES": f'{{"{ADMINS.upper()}": "admin"}}'})

    groups = resolve({"custom:groups": ADMINS}, settings)

    assert groups.values == ("admin",)


def test_ids_mapping_to_the_same_name_give_it_once() -> None:
    settings = Settings.from_env({"GROUP_NAMES": f'{{"{ADMINS}": "staff", "{PILOTS}": "staff"}}'})

    groups = resolve({"custom:groups": f"[{ADMINS}, {PILOTS}]"}, settings)

    assert groups.values == ("staff",)
    assert (groups.received, groups.unmapped) == (2, 0)


def test_absent_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings(
        groups_attribute="custom:groups",
        overage_attribute=None,
        group_names=None,
        add_to_cognito_groups=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GROUP_NAMES": "{not json"}, "GROUP_NAMES is not valid JSON"),
        ({"GROUP_NAMES": '["admin"]'}, "GROUP_NAMES must be a JSON object mapping group"),
        ({"GROUP_NAMES": f'{{"{ADMINS}": ""}}'}, "non-empty names"),
        ({"ADD_TO_COGNITO_GROUPS": "maybe"}, "ADD_TO_COGNITO_GROUPS='maybe' is invalid"),
    ],
)
def test_malformed_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
