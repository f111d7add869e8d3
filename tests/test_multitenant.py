"""Many Entra tenants in one pool: one app and one IdP each, routed by email domain."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from mobile_sso.config import ConfigError, EnvironmentConfig, parse_config
from sso_constructs.entra_saml_application import RESOURCE_TYPE
from tests.conftest import data_of, template_of

IDP = "AWS::Cognito::UserPoolIdentityProvider"


def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "env.yaml")
    return caught.value.problems


def test_each_tenant_gets_its_own_app_and_idp(multitenant_template: Template) -> None:
    multitenant_template.resource_count_is(RESOURCE_TYPE, 3)
    names = sorted(
        idp["Properties"]["ProviderName"]
        for idp in multitenant_template.find_resources(IDP).values()
    )
    assert names == ["Contoso", "Fabrikam", "Northwind"]


def test_tenants_share_one_provider(multitenant_template: Template) -> None:
    multitenant_template.resource_count_is("AWS::StepFunctions::StateMachine", 1)


def test_email_domains_become_idp_identifiers(multitenant_template: Template) -> None:
    multitenant_template.has_resource_properties(
        IDP, {"ProviderName": "Contoso", "IdpIdentifiers": ["contoso.com", "contoso.co.uk"]}
    )


def test_each_app_is_made_in_its_own_tenant(multitenant_template: Template) -> None:
    tenants = sorted(
        app["Properties"]["TenantId"]
        for app in multitenant_template.find_resources(RESOURCE_TYPE).values()
    )
    assert tenants == [
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
    ]


def test_clients_offer_all_tenants_unless_they_list_some(
    multitenant_template: Template,
) -> None:
    clients = {
        c["Properties"]["ClientName"]: c["Properties"]["SupportedIdentityProviders"]
        for c in multitenant_template.find_resources("AWS::Cognito::UserPoolClient").values()
    }
    assert len(clients["ios"]) == 3
    assert len(clients["contoso-kiosk"]) == 1


def test_each_tenant_reads_only_its_own_secret(multitenant_template: Template) -> None:
    (app,) = [
        a
        for a in multitenant_template.find_resources(RESOURCE_TYPE).values()
        if a["Properties"]["TenantId"].startswith("3333")
    ]
    assert app["Properties"]["CredentialsSecretArn"].endswith(
        "secret:mobile-sso/entra-deployer-northwind-AbCdEf"
    )


def test_adding_a_tenant_changes_only_its_resources_and_the_client_lists(
    multitenant: EnvironmentConfig,
) -> None:
    data = data_of(multitenant)
    fewer = dict(data, entra=data["entra"][:2])
    before = template_of(parse_config(fewer, "two.yaml")).to_json()["Resources"]
    after = template_of(multitenant).to_json()["Resources"]

    added = set(after) - set(before)
    assert set(before) <= set(after), "no resource may disappear when a tenant is added"
    assert added, "the new tenant adds resources"
    assert all("Northwind" in logical_id for logical_id in added)
    changed = {k for k in before if json.dumps(before[k]) != json.dumps(after[k])}
    clients = {k for k in changed if after[k]["Type"] == "AWS::Cognito::UserPoolClient"}
    policies = {k for k in changed if after[k]["Type"] == "AWS::IAM::Policy"}
    functions = {k for k in changed if after[k]["Type"] == "AWS::Lambda::Function"}
    assert changed == clients | policies | functions
    # The certificate check learns the new tenant's metadata URL, the pre-token trigger its
    # email domains, and nothing else changes.
    assert {k.removesuffix(k[-8:]) for k in functions} == {
        "CertificateMonitorFunction",
        "TenantIsolationTriggerFunction",
    }
    for logical_id in functions:
        old, new = before[logical_id]["Properties"], after[logical_id]["Properties"]
        assert {k: v for k, v in old.items() if k != "Environment"} == {
            k: v for k, v in new.items() if k != "Environment"
        }
        assert "Northwind" in json.dumps(new["Environment"])
    # The shared handlers' roles may now also read the new tenant's secret, and nothing more.
    assert policies, "the shared handlers' policies name the new tenant's secret"
    for logical_id in policies:
        (old,) = before[logical_id]["Properties"]["PolicyDocument"]["Statement"]
        (new,) = after[logical_id]["Properties"]["PolicyDocument"]["Statement"]
        assert new["Action"] == old["Action"]
        assert set(old["Resource"]) <= set(new["Resource"])
        added_arns = set(new["Resource"]) - set(old["Resource"])
        assert [arn.rsplit(":", 1)[-1] for arn in added_arns] == [
            "mobile-sso/entra-deployer-northwind-AbCdEf"
        ]
    assert {k for k in clients if "contoso" in k.lower()} == set(), "kiosk lists only Contoso"
    assert clients, "the clients that offer every tenant offer the new one"
    for logical_id in clients:
        old, new = before[logical_id]["Properties"], after[logical_id]["Properties"]
        assert {k: v for k, v in old.items() if k != "SupportedIdentityProviders"} == {
            k: v for k, v in new.items() if k != "SupportedIdentityProviders"
        }


def test_idp_names_must_be_unique_ignoring_case(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    data["entra"][1]["idp_name"] = "CONTOSO"
    assert problems_for(data) == [
        "entra: idp_name must be unique in the pool (case-insensitive); repeated: "
        "['CONTOSO', 'Contoso']"
    ]


def test_an_email_domain_routes_to_one_tenant_only(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    data["entra"][1]["email_domains"] = ["contoso.com"]
    assert problems_for(data) == [
        "entra: an email domain can route to one tenant only; listed twice: ['contoso.com']"
    ]


def test_email_domain_must_be_a_domain(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    data["entra"][0]["email_domains"] = ["@contoso.com"]
    assert problems_for(data) == [
        "entra[0].email_domains[0]: '@contoso.com': expected an email domain such as "
        "contoso.com (lowercase, no '@', no scheme)"
    ]


def test_at_most_50_email_domains_per_tenant(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    data["entra"][0]["email_domains"] = [f"d{i}.example.com" for i in range(51)]
    assert problems_for(data) == [
        f"entra[0].email_domains: {data['entra'][0]['email_domains']!r}: has 51 entries; at "
        "most 50 allowed"
    ]


def test_at_most_300_tenants_per_pool(multitenant: EnvironmentConfig) -> None:
    data = data_of(multitenant)
    template = data["entra"][1]
    data["entra"] = [
        dict(template, idp_name=f"Tenant{i:03d}", email_domains=[f"t{i}.example.com"])
        for i in range(301)
    ]
    for client in data["clients"]:
        client.pop("identity_providers", None)
    assert problems_for(data)[0].endswith("has 301 entries; at most 300 allowed")


def test_idp_names_that_squash_to_the_same_output_key_are_refused(
    multitenant: EnvironmentConfig,
) -> None:
    data = data_of(multitenant)
    data["entra"][1]["idp_name"] = "Con.toso"
    assert problems_for(data) == [
        "entra: idp names that differ only in characters other than ASCII letters and digits "
        "would share stack outputs: ['Con.toso', 'Contoso']"
    ]


def test_outputs_per_tenant(multitenant_template: Template) -> None:
    found = multitenant_template.find_outputs("*")
    assert found["IdentityProviderNames"]["Value"] == "Contoso,Fabrikam,Northwind"
    assert found["IdpFabrikamTenantId"]["Value"] == "22222222-2222-4222-8222-222222222222"
    url = json.dumps(found["IdpNorthwindMetadataUrl"]["Value"])
    assert "33333333-3333-4333-8333-333333333333/federationmetadata" in url
    assert found["ClientContosoKioskIdentityProviders"]["Value"] == "Contoso"
