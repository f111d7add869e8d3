"""Config validation: one rule per test, bad value in, exact message out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mobile_sso.config import (
    ConfigError,
    RemovalPolicy,
    Stage,
    load_config,
    load_config_file,
    parse_config,
)
from tests.conftest import example_data


def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    return caught.value.problems


def with_client(**changes: Any) -> dict[str, Any]:
    data = example_data()
    data["clients"][0].update(changes)
    return data


def with_top(**changes: Any) -> dict[str, Any]:
    data = example_data()
    data.update(changes)
    return data


def test_example_config_is_valid() -> None:
    config = load_config("example")
    assert config.stack_name == "MobileSso-Example"
    assert [c.name for c in config.clients] == ["ios", "android"]


def test_error_names_file_key_value_and_rule() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_top(region="Europe"), "config/prod.yaml")
    assert str(caught.value) == (
        "config/prod.yaml: region: 'Europe': an AWS region looks like 'eu-west-1' or "
        "'us-gov-west-1'"
    )


@pytest.mark.parametrize("prefix", ["My-Pool", "-pool", "pool-", "pool_x", "a" * 64, ""])
def test_domain_prefix_must_be_lowercase_letters_digits_hyphens(prefix: str) -> None:
    assert problems_for(with_top(domain={"prefix": prefix})) == [
        f"domain.prefix: {prefix!r}: a Cognito domain prefix is 1-63 characters of lowercase "
        "letters, digits and hyphens, and neither starts nor ends with a hyphen"
    ]


def test_domain_prefix_of_63_characters_is_accepted() -> None:
    config = parse_config(with_top(domain={"prefix": "a" * 63}), "env.yaml")
    assert config.domain.prefix == "a" * 63


@pytest.mark.parametrize("word", ["aws", "amazon", "cognito"])
def test_domain_prefix_must_not_contain_reserved_words(word: str) -> None:
    prefix = f"my-{word}-login"
    assert problems_for(with_top(domain={"prefix": prefix})) == [
        f"domain.prefix: {prefix!r}: a Cognito domain prefix must not contain '{word}' "
        "(Cognito reserves 'aws', 'amazon' and 'cognito')"
    ]


def test_domain_needs_exactly_one_of_prefix_or_custom() -> None:
    custom = {
        "domain_name": "auth.example.com",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/"
        "11111111-2222-3333-4444-555555555555",
    }
    expected = [
        "domain: set exactly one of 'prefix' (Cognito domain) or 'custom' (your own domain)"
    ]
    assert problems_for(with_top(domain={"prefix": "abc", "custom": custom})) == expected
    assert problems_for(with_top(domain={})) == expected


def test_custom_domain_certificate_must_be_in_us_east_1() -> None:
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    data = with_top(domain={"custom": {"domain_name": "auth.example.com", "certificate_arn": arn}})
    assert problems_for(data) == [
        f"domain.custom.certificate_arn: {arn!r}: Cognito custom domains need an ACM "
        "certificate in us-east-1 (it is served by CloudFront), not eu-west-1"
    ]


def test_custom_domain_name_must_be_a_hostname() -> None:
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    custom = {"domain_name": "https://auth.example.com", "certificate_arn": arn}
    assert problems_for(with_top(domain={"custom": custom})) == [
        "domain.custom.domain_name: 'https://auth.example.com': expected a lowercase fully "
        "qualified domain name such as auth.example.com (no scheme, no path)"
    ]


@pytest.mark.parametrize("region", ["eu-west", "EU-WEST-1", "euwest1", "eu-west-1a"])
def test_region_must_look_like_an_aws_region(region: str) -> None:
    assert problems_for(with_top(region=region)) == [
        f"region: {region!r}: an AWS region looks like 'eu-west-1' or 'us-gov-west-1'"
    ]


def test_account_must_be_twelve_digits() -> None:
    assert problems_for(with_top(account="12345")) == [
        "account: '12345': an AWS account id is exactly 12 digits (quote it in YAML: "
        "'012345678901')"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/callback",
        "http://localhost:8080/callback",
        "http://127.0.0.1/cb",
        "myapp://callback",
        "com.example.app:/oauth2redirect",
    ],
)
def test_callback_url_forms_cognito_accepts(url: str) -> None:
    config = parse_config(with_client(callback_urls=[url]), "env.yaml")
    assert config.clients[0].callback_urls == [url]


def test_http_callback_is_allowed_only_for_localhost() -> None:
    assert problems_for(with_client(callback_urls=["http://app.example.com/cb"])) == [
        "clients[0].callback_urls[0]: 'http://app.example.com/cb': http is allowed only for "
        "localhost; use https, or a custom app scheme such as myapp://callback"
    ]


def test_callback_url_must_not_have_a_fragment() -> None:
    assert problems_for(with_client(callback_urls=["myapp://callback#done"])) == [
        "clients[0].callback_urls[0]: 'myapp://callback#done': URL must not contain a fragment "
        "('#...'); Cognito refuses it"
    ]


def test_callback_url_must_be_absolute() -> None:
    assert problems_for(with_client(callback_urls=["/callback"])) == [
        "clients[0].callback_urls[0]: '/callback': URL must be absolute: https://..., "
        "http://localhost... or a custom app scheme such as myapp://callback"
    ]


def test_callback_url_must_not_use_a_script_scheme() -> None:
    assert problems_for(with_client(callback_urls=["javascript:alert(1)"])) == [
        "clients[0].callback_urls[0]: 'javascript:alert(1)': the scheme 'javascript:' is not "
        "a redirect target"
    ]


def test_callback_url_longer_than_cognito_limit_is_refused() -> None:
    url = "https://app.example.com/" + "a" * 1001
    assert problems_for(with_client(callback_urls=[url])) == [
        f"clients[0].callback_urls[0]: {url!r}: URL is 1025 characters; Cognito accepts at "
        "most 1024"
    ]


def test_sign_out_urls_follow_the_same_rules() -> None:
    assert problems_for(with_client(sign_out_urls=["http://example.com/bye"])) == [
        "clients[0].sign_out_urls[0]: 'http://example.com/bye': http is allowed only for "
        "localhost; use https, or a custom app scheme such as myapp://callback"
    ]


def test_client_needs_at_least_one_callback_url() -> None:
    assert problems_for(with_client(callback_urls=[])) == [
        "clients[0].callback_urls: []: needs at least 1 entry"
    ]


def test_more_than_100_callback_urls_are_refused() -> None:
    urls = [f"myapp://cb{i}" for i in range(101)]
    assert problems_for(with_client(callback_urls=urls))[0].endswith(
        ": has 101 entries; at most 100 allowed"
    )


def test_repeated_callback_url_is_refused() -> None:
    assert problems_for(with_client(callback_urls=["myapp://cb", "myapp://cb"])) == [
        "clients[0].callback_urls: ['myapp://cb', 'myapp://cb']: lists ['myapp://cb'] more "
        "than once"
    ]


def test_unknown_scope_is_refused_with_a_suggestion() -> None:
    assert problems_for(with_client(scopes=["openid", "emial"])) == [
        "clients[0].scopes[1]: 'emial': unknown scope (did you mean 'email'?); use one of "
        "openid, email, phone, profile, aws.cognito.signin.user.admin or a resource-server "
        "scope 'identifier/name'"
    ]


def test_resource_server_scope_is_accepted() -> None:
    data = with_client(scopes=["openid", "api.example.com/read"])
    data["resource_servers"] = [
        {
            "identifier": "api.example.com",
            "name": "API",
            "scopes": [{"name": "read", "description": "Read"}],
        }
    ]
    config = parse_config(data, "env.yaml")
    assert config.clients[0].scopes == ["openid", "api.example.com/read"]


@pytest.mark.parametrize("scope", ["email", "profile", "phone"])
def test_email_profile_phone_scopes_need_openid(scope: str) -> None:
    assert problems_for(with_client(scopes=[scope])) == [
        f"clients[0].scopes: [{scope!r}]: {scope} needs 'openid' in the same list (Cognito "
        "refuses it without)"
    ]


def test_unknown_oauth_flow_is_refused() -> None:
    assert problems_for(with_client(oauth_flows=["client_credentials"])) == [
        "clients[0].oauth_flows[0]: 'client_credentials': Input should be 'authorization_code' "
        "or 'implicit'"
    ]


def test_duplicate_client_names_are_refused() -> None:
    data = example_data()
    data["clients"][1]["name"] = "ios"
    assert problems_for(data) == ["clients: client names must be unique; repeated: ['ios']"]


def test_client_names_differing_only_by_hyphens_are_refused() -> None:
    data = example_data()
    data["clients"][0]["name"] = "ios-app"
    data["clients"][1]["name"] = "iosapp"
    assert problems_for(data) == [
        "clients: client names ['ios-app', 'iosapp'] differ only by hyphens; their stack "
        "outputs would clash"
    ]


def test_client_name_must_be_a_slug() -> None:
    assert problems_for(with_client(name="iOS App Client")) == [
        "clients[0].name: 'iOS App Client': a client name is 1-48 lowercase letters, digits "
        "and single hyphens, starting with a letter (it names the stack outputs, e.g. 'ios' "
        "-> ClientIosId)"
    ]


def test_unknown_top_level_key_is_refused_with_a_suggestion() -> None:
    data = with_top(regoin="eu-west-1")
    assert problems_for(data)[0].startswith(
        "regoin: unknown key; did you mean 'region'? (allowed here: $schema, stack_name, stage,"
    )


def test_unknown_nested_key_is_refused_with_a_suggestion() -> None:
    assert problems_for(with_client(callback_url=["myapp://cb"])) == [
        "clients[0].callback_url: unknown key; did you mean 'callback_urls'? (allowed here: "
        "name, platform, callback_urls, sign_out_urls, scopes, oauth_flows, generate_secret, "
        "identity_providers, allow_cognito_users, token_validity, allow_loopback_callbacks)"
    ]


def test_missing_required_key_is_named() -> None:
    data = example_data()
    del data["region"]
    assert problems_for(data) == ["region: required key is missing"]


def test_token_validity_outside_cognito_bounds_is_refused() -> None:
    assert problems_for(with_top(token_validity={"access_token_minutes": 2})) == [
        "token_validity.access_token_minutes: 2: Input should be greater than or equal to 5"
    ]


def test_deletion_protection_with_destroy_policy_is_refused() -> None:
    pool = {"name": "p", "deletion_protection": True, "removal_policy": "destroy"}
    assert problems_for(with_top(user_pool=pool)) == [
        "user_pool: deletion_protection is on but removal_policy is destroy, so deleting the "
        "stack would fail; choose removal_policy retain or turn protection off"
    ]


def test_every_problem_is_reported_at_once() -> None:
    data = with_top(region="nowhere", stage="production")
    assert len(problems_for(data)) == 2


def test_tag_key_must_not_use_the_aws_prefix() -> None:
    assert problems_for(with_top(tags={"aws:owner": "me"})) == [
        "tags: tag key 'aws:owner': 1-128 letters, digits, spaces and "
        "_.:/=+-@, not starting with 'aws:'"
    ]


@pytest.mark.parametrize(
    ("stage", "protected", "policy"),
    [
        (Stage.DEV, False, RemovalPolicy.DESTROY),
        (Stage.STAGING, True, RemovalPolicy.RETAIN),
        (Stage.PROD, True, RemovalPolicy.RETAIN),
    ],
)
def test_pool_is_protected_and_retained_outside_dev(
    stage: Stage, protected: bool, policy: RemovalPolicy
) -> None:
    config = parse_config(with_top(stage=stage.value), "env.yaml")
    assert config.deletion_protection is protected
    assert config.removal_policy is policy


def test_repeated_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("region: eu-west-1\nstage: dev\nregion: us-east-1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert "found the key 'region' twice (first on line 1)" in caught.value.problems[0]


def test_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert caught.value.problems == [
        "the file must hold a mapping of keys (see config/example.yaml)"
    ]


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("nosuchenv")
    assert "no such environment file; environments here: ['example'" in caught.value.problems[0]


def with_entra(**changes: Any) -> dict[str, Any]:
    data = example_data()
    data["entra"][0].update(changes)
    return data


def test_entra_assignment_ids_must_be_guids() -> None:
    assert problems_for(with_entra(assignments={"users": ["alice@contoso.com"]})) == [
        "entra[0].assignments.users[0]: 'alice@contoso.com': expected a GUID such as "
        "72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra shows it as the Directory (tenant) ID or "
        "Object ID)"
    ]


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "a Cognito identity provider name is 3-32 characters (emoji and other characters "
         "beyond U+FFFF count twice)"),
        ("a" * 33, "a Cognito identity provider name is 3-32 characters (emoji and other "
         "characters beyond U+FFFF count twice)"),
        ("_Entra", "Cognito identity provider names may contain '_' only as the second "
         "character; use '-' instead"),
        ("Entra ", "Cognito identity provider names may not contain spaces or other invisible "
         "characters (' '); write 'ContosoEU' or 'Contoso-EU'"),
    ],
)  # fmt: skip
def test_idp_name_must_fit_cognitos_rules(name: str, rule: str) -> None:
    assert problems_for(with_entra(idp_name=name)) == [f"entra[0].idp_name: {name!r}: {rule}"]


def test_idp_name_must_not_be_a_reserved_provider() -> None:
    assert problems_for(with_entra(idp_name="Google")) == [
        "entra[0].idp_name: 'Google': Cognito reserves the provider name 'Google'"
    ]


def test_credentials_secret_arn_must_be_a_secrets_manager_arn() -> None:
    arn = "arn:aws:s3:::bucket/secret.json"
    assert problems_for(with_entra(credentials_secret=arn)) == [
        f"entra[0].credentials_secret: {arn!r}: expected a Secrets Manager secret ARN: "
        "arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>"
    ]


def test_unknown_entra_cloud_is_refused() -> None:
    assert problems_for(with_entra(cloud="germany")) == [
        "entra[0].cloud: 'germany': Input should be 'global', 'usgov', 'usgov-dod' or 'china'"
    ]


def test_client_naming_an_unknown_idp_is_refused() -> None:
    data = example_data()
    data["clients"][0]["identity_providers"] = ["Okta"]
    assert problems_for(data) == [
        "clients: client 'ios' names identity provider(s) ['Okta']; configured: ['EntraID']"
    ]


def test_client_naming_an_idp_without_entra_section_is_refused() -> None:
    data = example_data()
    del data["entra"]
    data["clients"][0]["identity_providers"] = ["EntraID"]
    assert problems_for(data) == [
        "clients: client 'ios' names identity provider(s) ['EntraID']; configured: none (add "
        "an entra section)"
    ]
