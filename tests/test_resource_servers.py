"""resource_servers: the OAuth resource servers of the pool, and the custom scopes clients ask for.

No registry schema can say that a client's scope `<identifier>/<name>` must be defined by a
resource server of the same pool; Cognito refuses to create the client otherwise. The config
checks it, and the stack creates each resource server before the clients that use it.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from mobile_sso.config import ConfigError, parse_config
from tests.conftest import example_data, template_of

ORDERS = {
    "identifier": "https://api.example.com",
    "name": "Orders API",
    "scopes": [
        {"name": "orders.read", "description": "Read orders"},
        {"name": "orders.write", "description": "Change orders"},
    ],
}


def with_scopes(*scopes: str, servers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = example_data()
    data["resource_servers"] = [ORDERS] if servers is None else servers
    data["clients"][0]["scopes"] = ["openid", *scopes]
    return data


@pytest.fixture(scope="module")
def template() -> Template:
    return template_of(parse_config(with_scopes("https://api.example.com/orders.read"), "t.yaml"))


def test_a_custom_scope_without_a_resource_server_is_refused() -> None:
    data = example_data()
    data["clients"][0]["scopes"] = ["openid", "orders/read"]
    with pytest.raises(
        ConfigError,
        match=r"clients: client 'ios' asks for the scope 'orders/read', but no resource_servers "
        r"entry has the identifier 'orders' \(declared: none\); Cognito refuses to create a "
        r"client with an undeclared custom scope",
    ):
        parse_config(data, "env.yaml")


def test_a_scope_its_resource_server_does_not_define_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"resource server 'https://api.example.com' has no scope 'orders.delete' "
        r"\(its scopes: \['orders.read', 'orders.write'\]\)",
    ):
        parse_config(with_scopes("https://api.example.com/orders.delete"), "env.yaml")


def test_a_declared_custom_scope_is_accepted() -> None:
    config = parse_config(with_scopes("https://api.example.com/orders.write"), "env.yaml")
    assert config.clients[0].scopes == ["openid", "https://api.example.com/orders.write"]


def test_resource_server_identifiers_are_unique() -> None:
    with pytest.raises(ConfigError, match=r"identifiers must be unique in the pool"):
        parse_config(with_scopes(servers=[ORDERS, {**ORDERS, "name": "Again"}]), "env.yaml")


def test_a_scope_name_may_not_contain_a_slash() -> None:
    server = {**ORDERS, "scopes": [{"name": "orders/read", "description": "Read"}]}
    with pytest.raises(ConfigError, match=r"resource_servers\[0\]\.scopes\[0\]\.name: "):
        parse_config(with_scopes(servers=[server]), "env.yaml")


def test_the_resource_server_is_created_with_its_scopes(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {
            "Identifier": "https://api.example.com",
            "Name": "Orders API",
            "UserPoolId": {"Ref": Match.string_like_regexp("^UserPool")},
            "Scopes": [
                {"ScopeName": "orders.read", "ScopeDescription": "Read orders"},
                {"ScopeName": "orders.write", "ScopeDescription": "Change orders"},
            ],
        },
    )


def test_a_client_asking_for_a_custom_scope_depends_on_its_resource_server(
    template: Template,
) -> None:
    [server] = template.find_resources("AWS::Cognito::UserPoolResourceServer")
    clients = template.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": "ios"}}
    )
    [ios] = clients.values()
    assert server in ios["DependsOn"]
    assert "https://api.example.com/orders.read" in ios["Properties"]["AllowedOAuthScopes"]


def test_a_client_without_custom_scopes_does_not_wait_for_resource_servers(
    template: Template,
) -> None:
    [server] = template.find_resources("AWS::Cognito::UserPoolResourceServer")
    clients = template.find_resources(
        "AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": "android"}}
    )
    [android] = clients.values()
    assert server not in android.get("DependsOn", [])


def test_custom_scopes_reach_the_scopes_output_that_export_reads_back(
    template: Template,
) -> None:
    from mobile_sso import outputs  # noqa: PLC0415
    from mobile_sso.export import _split  # noqa: PLC0415

    key = outputs.client_output_key("ios", outputs.CLIENT_SCOPES)
    value = template.to_json()["Outputs"][key]["Value"]
    assert _split(value) == ("openid", "https://api.example.com/orders.read")


def test_a_pool_takes_at_most_25_resource_servers() -> None:
    servers = [{"identifier": f"api{i}", "name": f"API {i}"} for i in range(26)]
    parse_config(with_scopes(servers=[ORDERS, *servers[:24]]), "env.yaml")
    with pytest.raises(ConfigError, match=r"resource_servers: .*has 27 entries; at most 25"):
        parse_config(with_scopes(servers=[ORDERS, *servers]), "env.yaml")
