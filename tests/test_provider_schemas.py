"""The provider schemas are the floor of the config's validation.

Every config field that reaches a CloudFormation property is walked against that property's
registry schema, read from the data the pinned cfn-lint ships (`cfnlint/data/schemas/`, the
schemas CloudFormation validates with), or from botocore's service model where CloudFormation
has none. Values at the config's edges (boundary lengths, one character of every Unicode
general category at the start, second place, middle and end, all printable ASCII) go through
`parse_config`; a value the config accepts must satisfy the schema's type, pattern and
lengths, and a list the config accepts must fit the schema's item count. Where the config is
deliberately stricter, `STRICTER` says so, and a test proves each of those values is one the
schema admits.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session  # type: ignore[import-untyped]
import pytest
import regex  # type: ignore[import-untyped]
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from mobile_sso.config import MAX_GROUP_NAMES_JSON, ConfigError, parse_config
from tests.conftest import example_data, template_of

REGION = "us-east-1"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
SERVER = "https://api.example.com"

# --- the schemas ------------------------------------------------------------------------


@functools.cache
def resource_schema(type_name: str) -> dict[str, Any]:
    """The registry schema cfn-lint validates `type_name` with."""
    schema: dict[str, Any] = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, type_name).schema
    return schema


def property_schema(type_name: str, path: str) -> dict[str, Any]:
    """The schema of one property, `Name`, `Name/*` (its items) or `Name/*/Key`."""
    root = resource_schema(type_name)

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    node = resolve(root)
    for part in path.split("/"):
        node = resolve(node["items"] if part == "*" else node["properties"][part])
    return node


def botocore_shape(service: str, shape: str) -> dict[str, Any]:
    """A botocore shape's constraints, in JSON Schema's words."""
    model = botocore.session.get_session().get_service_model(service)
    meta = model.shape_for(shape).metadata
    schema: dict[str, Any] = {"type": "string"}
    if "min" in meta:
        schema["minLength"] = meta["min"]
    if "max" in meta:
        schema["maxLength"] = meta["max"]
    if "pattern" in meta:
        schema["pattern"] = "^" + meta["pattern"] + "$"
    return schema


def refusal(schema: dict[str, Any], value: str) -> str | None:
    """Why `schema` refuses the string `value` (as cfn-lint checks it), or None."""
    if len(value) < schema.get("minLength", 0):
        return f"shorter than {schema['minLength']}"
    if len(value) > schema.get("maxLength", sys.maxsize):
        return f"longer than {schema['maxLength']}"
    if "pattern" in schema and not regex.search(schema["pattern"], value):
        return f"does not match {schema['pattern']}"
    return None


# --- config fields and the properties they reach -------------------------------------


@dataclass(frozen=True)
class Target:
    """A template property a config field reaches; `derive` maps the config value to the
    value the template holds."""

    where: str
    schema: dict[str, Any]
    derive: Callable[[str], str] = lambda value: value


@dataclass(frozen=True)
class Pair:
    """A config field (a path in the example config, with `prepare` applied first) and the
    template properties it reaches."""

    path: str
    targets: tuple[Target, ...]
    prepare: Callable[[dict[str, Any]], None] = lambda _data: None
    also_set: tuple[str, ...] = field(default=())  # paths that must hold derived values


def cfn(type_name: str, path: str, derive: Callable[[str], str] | None = None) -> Target:
    schema = property_schema(type_name, path)
    where = f"{type_name}.{path.replace('/*', '[]').replace('/', '.')}"
    return Target(where, schema, derive) if derive else Target(where, schema)


def with_custom_domain(data: dict[str, Any]) -> None:
    data["domain"] = {"custom": {"domain_name": "auth.example.com", "certificate_arn": CERT}}


def with_resource_server(data: dict[str, Any]) -> None:
    data["resource_servers"] = [
        {
            "identifier": SERVER,
            "name": "Orders API",
            "scopes": [{"name": "read", "description": "Read"}],
        }
    ]
    data["clients"][0]["scopes"] = ["openid", f"{SERVER}/read"]


def with_identity_pool(data: dict[str, Any]) -> None:
    role = "arn:aws:iam::123456789012:role/admins"
    data["identity_pool"] = {
        "role_mapping_claim": "cognito:groups",
        "role_rules": [{"value": "admins", "role_arn": role}],
    }


# Taggable resources of the stack (every optional feature on), and where their tags go.
TAG_TYPES = (
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::StepFunctions::StateMachine",
    "AWS::CloudWatch::Alarm",
    "AWS::Events::Rule",
    "AWS::Cognito::IdentityPool",
    "AWS::SecretsManager::Secret",
)
TAG_PROPERTY = {"AWS::Cognito::IdentityPool": "IdentityPoolTags"}


def tag_targets(part: str) -> tuple[Target, ...]:
    targets = tuple(cfn(t, f"{TAG_PROPERTY.get(t, 'Tags')}/*/{part}") for t in TAG_TYPES)
    if part == "Key":  # UserPoolTags is a map: its keys are checked by patternProperties
        [pattern] = property_schema("AWS::Cognito::UserPool", "UserPoolTags")["patternProperties"]
        targets += (Target("AWS::Cognito::UserPool.UserPoolTags (key)", {"pattern": pattern}),)
    return targets


PAIRS = (
    Pair(
        "entra[0].idp_name",
        (
            cfn("AWS::Cognito::UserPoolIdentityProvider", "ProviderName"),
            cfn("AWS::Cognito::UserPoolClient", "SupportedIdentityProviders/*"),
        ),
    ),
    Pair(
        "entra[0].email_domains[0]",
        (cfn("AWS::Cognito::UserPoolIdentityProvider", "IdpIdentifiers/*"),),
        prepare=lambda data: data["entra"][0].update(email_domains=["contoso.com"]),
    ),
    Pair("tags.team", tag_targets("Value"), prepare=lambda data: data.update(tags={"team": "a"})),
    Pair("tags", tag_targets("Key")),  # the key itself: see values_for
    Pair("clients[0].callback_urls[0]", (cfn("AWS::Cognito::UserPoolClient", "CallbackURLs/*"),)),
    Pair("clients[0].sign_out_urls[0]", (cfn("AWS::Cognito::UserPoolClient", "LogoutURLs/*"),)),
    Pair("clients[0].name", (cfn("AWS::Cognito::UserPoolClient", "ClientName"),)),
    Pair("user_pool.name", (cfn("AWS::Cognito::UserPool", "UserPoolName"),)),
    Pair("domain.prefix", (cfn("AWS::Cognito::UserPoolDomain", "Domain"),)),
    Pair(
        "domain.custom.domain_name",
        (cfn("AWS::Cognito::UserPoolDomain", "Domain"),),
        prepare=with_custom_domain,
    ),
    Pair(
        "domain.custom.certificate_arn",
        (cfn("AWS::Cognito::UserPoolDomain", "CustomDomainConfig/CertificateArn"),),
        prepare=with_custom_domain,
    ),
    Pair(
        "resource_servers[0].identifier",
        (
            cfn("AWS::Cognito::UserPoolResourceServer", "Identifier"),
            cfn("AWS::Cognito::UserPoolClient", "AllowedOAuthScopes/*", lambda v: f"{v}/read"),
        ),
        prepare=with_resource_server,
        also_set=("clients[0].scopes[1]",),
    ),
    Pair(
        "resource_servers[0].scopes[0].name",
        (
            cfn("AWS::Cognito::UserPoolResourceServer", "Scopes/*/ScopeName"),
            cfn("AWS::Cognito::UserPoolClient", "AllowedOAuthScopes/*", lambda v: f"{SERVER}/{v}"),
        ),
        prepare=with_resource_server,
        also_set=("clients[0].scopes[1]",),
    ),
    Pair(
        "resource_servers[0].name",
        (cfn("AWS::Cognito::UserPoolResourceServer", "Name"),),
        prepare=with_resource_server,
    ),
    Pair(
        "resource_servers[0].scopes[0].description",
        (cfn("AWS::Cognito::UserPoolResourceServer", "Scopes/*/ScopeDescription"),),
        prepare=with_resource_server,
    ),
    Pair(
        "identity_pool.role_mapping_claim",
        (
            Target(
                "cognito-identity MappingRule.Claim (botocore ClaimName)",
                botocore_shape("cognito-identity", "ClaimName"),
            ),
        ),
        prepare=with_identity_pool,
    ),
    Pair(
        "identity_pool.role_rules[0].value",
        (
            Target(
                "cognito-identity MappingRule.Value (botocore ClaimValue)",
                botocore_shape("cognito-identity", "ClaimValue"),
            ),
        ),
        prepare=with_identity_pool,
    ),
)

# Values the schema admits and the config refuses on purpose: (field, value, why).
STRICTER: list[tuple[str, str, str]] = [
    ("entra[0].idp_name", "Ab,c", "',' separates names in the IdentityProviderNames output"),
    ("entra[0].idp_name", "A" + "\U0001f642" * 16, "Java counts emoji twice; 32 UTF-16 units"),
    ("entra[0].idp_name", "Google", "Cognito reserves the social providers' names"),
    ("entra[0].email_domains[0]", "Contoso.com", "a lowercase DNS name, not any \\w\\s+=.@-"),
    ("clients[0].name", "iOS App", "it names stack outputs: lowercase letters, digits, '-'"),
    ("clients[0].callback_urls[0]", "http://app.example.com/cb", "http only for loopback"),
    ("resource_servers[0].identifier", "api,v2", "',' separates scopes in the Scopes output"),
    ("resource_servers[0].name", "Orders\u0301 API", "marks: letters, digits, ASCII spaces"),
    ("domain.custom.domain_name", "Auth.Example.com", "a lowercase DNS name"),
    ("resource_servers[0].scopes[0].description", "Read\x7f", "no control characters"),
]


# --- edge values ------------------------------------------------------------------------


@functools.cache
def probe_characters() -> tuple[str, ...]:
    """One character of every Unicode general category (the first one in the BMP, and the
    first beyond it), every printable ASCII character, and a few known troublemakers."""
    first: dict[str, str] = {}
    for code in [*range(0x10000), *range(0x1F000, 0x1F700), 0xE0001, 0xF0000]:
        ch = chr(code)
        category = unicodedata.category(ch)
        first.setdefault(category, ch)
        if code >= 0x10000:
            first.setdefault(category + "+", ch)
    troublemakers = "\t\n\r\x0b\x1f\x7f\u00a0\u2028\u200b\u202e\ufeff\U0001f642"
    ascii_printable = "".join(chr(c) for c in range(0x20, 0x7F))
    return tuple(dict.fromkeys([*first.values(), *troublemakers, *ascii_printable]))


def base_value(data: dict[str, Any], path: str) -> str:
    node: Any = data
    for part in _parts(path):
        node = node[part]
    assert isinstance(node, str), path
    return node


def edge_values(base: str, schema: dict[str, Any]) -> Iterator[str]:
    """`base` with each probe character at the start, second place, middle and end, and
    padded with 'a' to the lengths around the schema's bounds."""
    middle = len(base) // 2
    for ch in probe_characters():
        for at in sorted({0, 1, 2, middle, len(base)}):
            yield base[:at] + ch + base[at:]
        yield ch * 3
    for length in {schema.get("minLength", 1), schema.get("maxLength", 64), len(base)}:
        for target in (length - 1, length, length + 1):
            pad = "a" * max(target - len(base), 0)
            yield pad + base
            yield base + pad
            yield base[:target]


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PART.findall(path)]


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = _parts(path)
    node: Any = data
    for part in parents:
        node = node[part]
    node[last] = value


def accepted(data: dict[str, Any]) -> bool:
    try:
        parse_config(copy.deepcopy(data), "walk.yaml")
    except ConfigError:
        return False
    return True


def prepared(pair: Pair) -> dict[str, Any]:
    data = example_data()
    pair.prepare(data)
    assert accepted(data), f"{pair.path}: the prepared example is invalid"
    return data


def values_for(pair: Pair, data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Each edge value of the pair's field, as a config holding it."""
    schema = pair.targets[0].schema
    if pair.path == "tags":  # the field is a key of the mapping
        for key in edge_values("team", schema):
            yield {**data, "tags": {key: "a"}}, key
        return
    for value in edge_values(base_value(data, pair.path), schema):
        changed = copy.deepcopy(data)
        _set(changed, pair.path, value)
        for other in pair.also_set:
            _set(changed, other, pair.targets[-1].derive(value))
        yield changed, value


# --- the walk ---------------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: pair.path)
def test_config_admits_no_value_the_provider_schema_refuses(pair: Pair) -> None:
    data = prepared(pair)
    leaks = []
    tried = admitted = 0
    for config, value in values_for(pair, data):
        tried += 1
        if not accepted(config):
            continue
        admitted += 1
        for target in pair.targets:
            why = refusal(target.schema, target.derive(value))
            if why:
                leaks.append(f"{value!r} -> {target.where}: {why}")
    assert admitted, f"{pair.path}: none of {tried} edge values is valid; the walk proves nothing"
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize(("path", "value", "why"), STRICTER, ids=[s[0] for s in STRICTER])
def test_config_is_deliberately_stricter_than_the_schema_here(
    path: str, value: str, why: str
) -> None:
    [pair] = [p for p in PAIRS if p.path == path]
    data = prepared(pair)
    for target in pair.targets:
        assert refusal(target.schema, target.derive(value)) is None, f"the schema refuses it: {why}"
    changed = copy.deepcopy(data)
    _set(changed, path, value)
    assert not accepted(changed), why


# --- item counts -------------------------------------------------------------------------


def domains(count: int) -> list[str]:
    return [f"d{i}.example.com" for i in range(count)]


def urls(count: int) -> list[str]:
    return [f"myapp://cb{i}" for i in range(count)]


def server_scopes(count: int) -> list[dict[str, str]]:
    return [{"name": f"s{i}" if i else "read", "description": "d"} for i in range(count)]


COUNTS = [
    ("entra[0].email_domains", domains, "AWS::Cognito::UserPoolIdentityProvider", "IdpIdentifiers"),
    ("clients[0].callback_urls", urls, "AWS::Cognito::UserPoolClient", "CallbackURLs"),
    ("clients[0].sign_out_urls", urls, "AWS::Cognito::UserPoolClient", "LogoutURLs"),
    ("resource_servers[0].scopes", server_scopes, "AWS::Cognito::UserPoolResourceServer", "Scopes"),
]


@pytest.mark.parametrize(("path", "make", "type_name", "prop"), COUNTS, ids=[c[0] for c in COUNTS])
def test_config_admits_no_more_items_than_the_schema(
    path: str, make: Callable[[int], list[Any]], type_name: str, prop: str
) -> None:
    data = example_data()
    with_resource_server(data)
    limit = property_schema(type_name, prop)["maxItems"]
    at_limit, over = copy.deepcopy(data), copy.deepcopy(data)
    _set(at_limit, path, make(limit))
    _set(over, path, make(limit + 1))
    assert accepted(at_limit), f"{path}: {limit} items are refused; the schema allows them"
    assert not accepted(over), f"{path}: {limit + 1} items are accepted; {prop} takes {limit}"


def test_client_scopes_are_at_most_the_schemas_item_count() -> None:
    limit = property_schema("AWS::Cognito::UserPoolClient", "AllowedOAuthScopes")["maxItems"]
    data = example_data()
    data["resource_servers"] = [
        {"identifier": "api", "name": "API", "scopes": server_scopes(limit)}
    ]
    names = [f"api/s{i}" if i else "api/read" for i in range(limit)]
    data["clients"][0]["scopes"] = ["openid", *names[: limit - 1]]
    assert accepted(data)
    data["clients"][0]["scopes"] = ["openid", *names]
    assert not accepted(data)


def test_tags_are_at_most_the_schemas_item_count() -> None:
    limit = min(
        property_schema(t, "Tags").get("maxItems", sys.maxsize)
        for t in TAG_TYPES
        if t not in TAG_PROPERTY
    )
    data = example_data()
    data["tags"] = {f"k{i}": "v" for i in range(limit)}
    assert accepted(data)
    data["tags"] = {f"k{i}": "v" for i in range(limit + 1)}
    assert not accepted(data)


# --- the literals the config cites, as the schemas state them ---------------------------


def test_config_limits_are_the_registry_schemas_literals() -> None:
    from mobile_sso import config  # noqa: PLC0415

    idp = "AWS::Cognito::UserPoolIdentityProvider"
    client = "AWS::Cognito::UserPoolClient"
    assert property_schema(idp, "ProviderName")["pattern"] == (
        r"^[^_\p{Z}][\p{L}\p{M}\p{S}\p{N}\p{P}][^_\p{Z}]+$"
    )
    assert property_schema(idp, "ProviderName")["maxLength"] == config.MAX_IDP_NAME_LENGTH
    assert property_schema(idp, "IdpIdentifiers/*")["maxLength"] == (
        config.MAX_IDP_IDENTIFIER_LENGTH
    )
    assert property_schema(idp, "IdpIdentifiers")["maxItems"] == config.MAX_IDP_IDENTIFIERS
    assert property_schema(client, "AllowedOAuthScopes")["maxItems"] == config.MAX_CLIENT_SCOPES
    assert property_schema(client, "AllowedOAuthScopes/*")["maxLength"] == config.MAX_SCOPE_LENGTH
    assert property_schema(client, "CallbackURLs/*")["pattern"] == (
        r"^[\p{L}\p{M}\p{S}\p{N}\p{P}]+$"
    )
    assert property_schema(client, "CallbackURLs")["maxItems"] == config.MAX_URLS
    assert property_schema(client, "CallbackURLs/*")["maxLength"] == config.MAX_URL_LENGTH
    assert property_schema("AWS::Cognito::UserPoolDomain", "Domain")["maxLength"] == (
        config.MAX_DOMAIN_LENGTH
    )
    assert property_schema("AWS::IAM::Role", "Tags/*/Value")["pattern"] == (
        r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"
    )
    assert property_schema("AWS::IAM::Role", "Tags")["maxItems"] == config.MAX_TAGS
    assert property_schema("AWS::StepFunctions::StateMachine", "Tags/*/Value")["minLength"] == 1
    server = "AWS::Cognito::UserPoolResourceServer"
    assert property_schema(server, "Scopes")["maxItems"] == config.MAX_RESOURCE_SERVER_SCOPES
    assert property_schema(server, "Identifier")["pattern"] == r"^[\x21\x23-\x5B\x5D-\x7E]+$"
    assert property_schema(server, "Scopes/*/ScopeName")["pattern"] == (
        r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]+$"
    )


# --- the values of issue 13, one behaviour each ---------------------------------------


def entra_name(name: str) -> list[str]:
    data = example_data()
    data["entra"][0]["idp_name"] = name
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    return caught.value.problems


def test_an_idp_name_with_a_space_is_refused() -> None:
    assert entra_name("Contoso EU") == [
        "entra[0].idp_name: 'Contoso EU': Cognito identity provider names may not contain "
        "spaces or other invisible characters (' '); write 'ContosoEU' or 'Contoso-EU'"
    ]


def test_an_idp_name_with_an_underscore_past_the_second_character_is_refused() -> None:
    assert entra_name("Entra_ID") == [
        "entra[0].idp_name: 'Entra_ID': Cognito identity provider names may contain '_' only "
        "as the second character; use '-' instead"
    ]


def test_an_underscore_as_the_second_character_of_an_idp_name_is_accepted() -> None:
    data = example_data()
    data["entra"][0]["idp_name"] = "E_ntra"
    assert parse_config(data, "env.yaml").entra[0].idp_name == "E_ntra"


def test_an_idp_name_of_unicode_letters_and_symbols_is_accepted() -> None:
    data = example_data()
    data["entra"][0]["idp_name"] = "Zürich-Ω™"
    assert parse_config(data, "env.yaml").entra[0].idp_name == "Zürich-Ω™"


def test_an_email_domain_longer_than_40_characters_is_refused() -> None:
    domain = "a" * 29 + ".example.com"  # 41
    data = example_data()
    data["entra"][0]["email_domains"] = [domain]
    with pytest.raises(ConfigError, match=r"email domain is 41 characters; Cognito identity "):
        parse_config(data, "env.yaml")


def test_a_tag_value_with_a_comma_is_refused() -> None:
    data = example_data()
    data["tags"] = {"team": "a, b"}
    with pytest.raises(
        ConfigError,
        match=r"tags: tag 'team': AWS tag values are letters, digits, spaces and _.:/=\+-@ "
        r"only; not ','",
    ):
        parse_config(data, "env.yaml")


def test_an_empty_tag_value_is_refused() -> None:
    data = example_data()
    data["tags"] = {"team": ""}
    with pytest.raises(ConfigError, match=r"tag 'team': empty value; Step Functions"):
        parse_config(data, "env.yaml")


def test_a_callback_url_with_an_invisible_character_is_refused() -> None:
    data = example_data()
    data["clients"][0]["callback_urls"] = ["myapp://call\u200bback"]
    with pytest.raises(ConfigError, match=r"must not contain control or invisible characters"):
        parse_config(data, "env.yaml")


def test_a_custom_domain_longer_than_63_characters_is_refused() -> None:
    data = example_data()
    with_custom_domain(data)
    data["domain"]["custom"]["domain_name"] = "a" * 52 + ".example.com"  # 64
    with pytest.raises(ConfigError, match=r"domain name is 64 characters; a Cognito user pool"):
        parse_config(data, "env.yaml")


def test_a_role_mapping_claim_with_a_space_is_refused() -> None:
    data = example_data()
    with_identity_pool(data)
    data["identity_pool"]["role_mapping_claim"] = "cognito groups"
    with pytest.raises(ConfigError, match=r"a token claim name is 1-64 letters"):
        parse_config(data, "env.yaml")


# --- rules no schema carries --------------------------------------------------------------


def group_names(size: int) -> dict[str, str]:
    """Group names whose JSON (as the token trigger's GROUP_NAMES) is `size` characters."""
    names = {f"aaaaaaaa-0000-4000-8000-{i:012d}": "n" * 40 for i in range((size - 200) // 84)}
    names["aaaaaaaa-0000-4000-8000-999999999999"] = "n"
    short = len(json.dumps(names, sort_keys=True))
    names["aaaaaaaa-0000-4000-8000-999999999999"] += "n" * (size - short)
    assert len(json.dumps(names, sort_keys=True)) == size
    return names


def test_group_names_past_the_lambda_environment_budget_are_refused() -> None:
    data = example_data()
    data["groups"] = {"names": group_names(MAX_GROUP_NAMES_JSON + 1)}
    with pytest.raises(
        ConfigError,
        match=r"groups\.names: \d+ names take 3073 characters in the token trigger's "
        r"environment .*Lambda allows 4 KB",
    ):
        parse_config(data, "env.yaml")


def test_group_names_at_the_budget_keep_the_triggers_environment_within_4_kb() -> None:
    data = example_data()
    data["groups"] = {"names": group_names(MAX_GROUP_NAMES_JSON)}
    template = template_of(parse_config(data, "env.yaml")).to_json()
    sizes = [
        sum(len(key) + len(value) for key, value in variables.items())
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and "GROUP_NAMES" in (variables := resource["Properties"]["Environment"]["Variables"])
    ]
    assert sizes
    assert max(sizes) <= 4096  # Lambda's limit; cfn-lint E3697 counts the same way


def tenants(count: int) -> list[dict[str, str]]:
    return [
        {"tenant_id": f"aaaaaaaa-0000-4000-8000-{i:012d}", "credentials_secret": "s",
         "idp_name": f"Tenant{i:02d}"}
        for i in range(count)
    ]  # fmt: skip


def test_monitoring_more_tenants_than_the_check_functions_environment_holds_is_refused() -> None:
    data = example_data()
    data["entra"] = tenants(22)
    with pytest.raises(
        ConfigError,
        match=r"monitoring: .*the metadata URLs of all 22 tenants from one environment "
        r"variable, up to 3895 characters; Lambda allows 4 KB",
    ):
        parse_config(data, "env.yaml")
    data["monitoring"] = {"enabled": False}
    assert len(parse_config(data, "env.yaml").entra) == 22


def test_the_most_tenants_monitoring_accepts_keep_the_check_functions_environment_within_4_kb() -> (
    None
):
    data = example_data()
    data["entra"] = tenants(21)
    template = template_of(parse_config(data, "env.yaml")).to_json()
    [variables] = [
        resource["Properties"]["Environment"]["Variables"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and "METADATA_URLS" in resource["Properties"].get("Environment", {}).get("Variables", {})
    ]

    def deployed_length(value: Any) -> int:
        """The value's length once deployed: an Entra app id (a GUID) for each GetAtt."""
        if isinstance(value, str):
            return len(value)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return sum(map(deployed_length, parts)) + len(separator) * (len(parts) - 1)
        assert "Fn::GetAtt" in value, value
        return 36

    total = sum(len(key) + deployed_length(value) for key, value in variables.items())
    assert total <= 4096  # Lambda's limit for all of a function's variables
