"""Tenant isolation: a tenant that lists email_domains may sign in only emails in them (the
pre-token trigger refuses the rest), unless it opts out with enforce_email_domains: false."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from mobile_sso.config import ConfigError, EnvironmentConfig, load_config, parse_config
from tests.conftest import data_of, example_data, template_of

FUNCTION = "AWS::Lambda::Function"
HANDLER = "pre_token_groups.handler.handler"
MAP = {
    "Contoso": ["contoso.com", "contoso.co.uk"],
    "Fabrikam": ["fabrikam.com"],
    "Northwind": ["northwindtraders.com"],
}


def triggers(template: Template) -> dict[str, Any]:
    return {
        logical_id: function
        for logical_id, function in template.find_resources(FUNCTION).items()
        if function["Properties"].get("Handler") == HANDLER
    }


# -- the template ------------------------------------------------------------------------------


def test_tenants_with_email_domains_get_the_isolation_trigger(
    multitenant_template: Template,
) -> None:
    (function,) = triggers(multitenant_template).values()

    assert function["Properties"]["Environment"]["Variables"] == {
        "GROUPS_ENABLED": "false",
        "TENANT_EMAIL_DOMAINS": json.dumps(MAP, separators=(",", ":")),
    }
    multitenant_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "LambdaConfig": {
                "PreTokenGenerationConfig": Match.object_like({"LambdaVersion": "V2_0"})
            }
        },
    )


def test_the_isolation_only_trigger_has_its_own_logical_id(multitenant_template: Template) -> None:
    (logical_id,) = triggers(multitenant_template)

    assert logical_id.startswith("TenantIsolationTriggerFunction")


def test_an_opted_out_tenant_is_left_out_of_the_map(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    data["entra"][1]["enforce_email_domains"] = False

    (function,) = triggers(template_of(parse_config(data, "env.yaml"))).values()

    domains = json.loads(function["Properties"]["Environment"]["Variables"]["TENANT_EMAIL_DOMAINS"])
    assert domains == {name: d for name, d in MAP.items() if name != "Fabrikam"}


def test_no_trigger_when_every_tenant_opts_out_and_groups_are_off(
    multitenant: EnvironmentConfig,
) -> None:
    data = data_of(multitenant)
    for tenant in data["entra"]:
        tenant["enforce_email_domains"] = False

    template = template_of(parse_config(data, "env.yaml"))

    assert triggers(template) == {}
    (pool,) = template.find_resources("AWS::Cognito::UserPool").values()
    assert "LambdaConfig" not in pool["Properties"]


def test_with_groups_the_groups_function_also_checks_the_domains(
    multitenant: EnvironmentConfig,
) -> None:
    data = data_of(multitenant)
    data["groups"] = {}

    ((logical_id, function),) = triggers(template_of(parse_config(data, "env.yaml"))).items()

    assert logical_id.startswith("GroupsTriggerFunction")
    assert function["Properties"]["Environment"]["Variables"] == {
        "GROUPS_ATTRIBUTE": "custom:groups",
        "OVERAGE_ATTRIBUTE": "custom:groups_overage",
        "ADD_TO_COGNITO_GROUPS": "false",
        "TENANT_EMAIL_DOMAINS": json.dumps(MAP, separators=(",", ":")),
    }


def test_a_map_beyond_lambdas_4_kb_environment_is_refused_at_synth(
    multitenant: EnvironmentConfig,
) -> None:
    data = data_of(multitenant)
    template = data["entra"][1]
    data["entra"] = [
        dict(
            template,
            idp_name=f"Tenant{i:03d}",
            email_domains=[f"d{j}.tenant{i:03d}.example.com" for j in range(50)],
        )
        for i in range(300)
    ]
    for client in data["clients"]:
        client.pop("identity_providers", None)
    # The certificate check's environment has its own, lower bound on tenants.
    data["monitoring"] = {"enabled": False}

    with pytest.raises(ValueError, match=r"environment would be \d+ bytes; Lambda allows 4096"):
        template_of(parse_config(data, "env.yaml"))


# -- the config --------------------------------------------------------------------------------


def test_enforcement_is_on_by_default_when_email_domains_are_set(
    multitenant: EnvironmentConfig,
) -> None:
    assert [t.enforces_email_domains for t in multitenant.entra] == [True, True, True]


def test_a_tenant_without_email_domains_is_not_enforced() -> None:
    config = load_config("example")

    assert config.entra[0].enforces_email_domains is False
    assert config.tenant_email_domains() == {}


def test_enforcing_without_email_domains_is_a_config_error() -> None:
    data = example_data()
    data["entra"][0]["enforce_email_domains"] = True

    with pytest.raises(ConfigError, match="enforce_email_domains is true but email_domains"):
        parse_config(data, "env.yaml")


def test_enforce_email_domains_must_be_a_boolean() -> None:
    data = example_data()
    data["entra"][0]["enforce_email_domains"] = "sometimes"

    with pytest.raises(ConfigError, match="enforce_email_domains: 'sometimes'"):
        parse_config(data, "env.yaml")


def test_no_provider_maps_email_verified(multitenant_template: Template) -> None:
    # Cognito keeps a mapped email unverified unless the mapping fills email_verified; that
    # value would be the tenant's word again, so the stack maps none (SECURITY.md).
    idps = multitenant_template.find_resources("AWS::Cognito::UserPoolIdentityProvider")

    assert len(idps) == 3
    assert all(
        "email_verified" not in idp["Properties"]["AttributeMapping"] for idp in idps.values()
    )
