"""`mobile-sso doctor` and managed login (`domain.managed_login_version: 2`): every app
client needs a branding style, or managed login shows an error page instead of its sign-in
page. moto neither stores a domain's managed login version nor serves branding styles, so
a wrapper around its client answers those two calls as Cognito does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from mobile_sso.config import EnvironmentConfig, parse_config
from mobile_sso.doctor_checks import Diagnosis
from tests.conftest import example_data
from tests.doctor_deployment import Deployment, diagnose_directly


class ManagedLoginCognito:
    """moto's cognito-idp client, plus the domain's managed login version and the styles of
    the clients in `branded`; `branding_error` makes the style read fail with that code."""

    def __init__(
        self,
        deployment: Deployment,
        version: int,
        branded: set[str],
        branding_error: str | None = None,
    ) -> None:
        self._moto = deployment.cognito
        self.version = version
        self.branded = branded
        self.branding_error = branding_error
        self.branding_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)

    def describe_user_pool_domain(self, *, Domain: str) -> Mapping[str, Any]:
        answer: dict[str, Any] = self._moto.describe_user_pool_domain(Domain=Domain)
        answer["DomainDescription"]["ManagedLoginVersion"] = self.version
        return answer

    def describe_managed_login_branding_by_client(
        self,
        *,
        UserPoolId: str,
        ClientId: str,
    ) -> Mapping[str, Any]:
        self.branding_reads += 1
        if self.branding_error is None and ClientId in self.branded:
            return {
                "ManagedLoginBranding": {"UserPoolId": UserPoolId, "ManagedLoginBrandingId": "b"}
            }
        code = self.branding_error or "ResourceNotFoundException"
        raise ClientError(
            {"Error": {"Code": code, "Message": f"{code} message"}},
            "DescribeManagedLoginBrandingByClient",
        )


def config_with_login_version(version: int) -> EnvironmentConfig:
    data = example_data()
    data["domain"]["managed_login_version"] = version
    return parse_config(data, "managed-login.yaml")


def run_doctor(
    deployment: Deployment,
    config: EnvironmentConfig,
    cognito: ManagedLoginCognito,
) -> Diagnosis:
    return diagnose_directly(deployment, config, cognito=cognito)


def findings(diagnosis: Diagnosis) -> list[tuple[str, str, str]]:
    return [(f.category, f.severity, f.message) for f in diagnosis.findings]


def test_managed_login_with_a_style_for_every_client_is_healthy(
    deployment: Deployment,
) -> None:
    cognito = ManagedLoginCognito(deployment, 2, set(deployment.client_ids.values()))

    diagnosis = run_doctor(deployment, config_with_login_version(2), cognito)

    assert findings(diagnosis) == []
    assert cognito.branding_reads == len(deployment.client_ids)


def test_client_without_a_style_is_an_error_naming_it(
    deployment: Deployment,
) -> None:
    cognito = ManagedLoginCognito(deployment, 2, {deployment.client_ids["ios"]})

    diagnosis = run_doctor(deployment, config_with_login_version(2), cognito)

    [(category, severity, message)] = findings(diagnosis)
    assert (category, severity) == ("client", "error")
    assert f"app client 'android' ({deployment.client_ids['android']})" in message
    assert "no managed login branding style" in message
    assert "error page" in diagnosis.findings[0].user_error


def test_classic_hosted_ui_reads_no_styles(
    deployment: Deployment,
) -> None:
    cognito = ManagedLoginCognito(deployment, 1, set())

    diagnosis = run_doctor(deployment, config_with_login_version(1), cognito)

    assert findings(diagnosis) == []
    assert cognito.branding_reads == 0


def test_domain_on_another_version_than_the_config_is_a_warning(
    deployment: Deployment,
) -> None:
    branded = set(deployment.client_ids.values())
    cognito = ManagedLoginCognito(deployment, 1, branded)

    diagnosis = run_doctor(deployment, config_with_login_version(2), cognito)

    [(category, severity, message)] = findings(diagnosis)
    assert (category, severity) == ("domain", "warning")
    assert "serves managed login version 1; the config says 2" in message


def test_domain_switched_to_managed_login_outside_the_stack_finds_clients_without_styles(
    deployment: Deployment,
) -> None:
    cognito = ManagedLoginCognito(deployment, 2, set())

    diagnosis = run_doctor(deployment, config_with_login_version(1), cognito)

    assert sorted((c, s) for c, s, _ in findings(diagnosis)) == [
        ("client", "error"),
        ("client", "error"),
        ("domain", "warning"),
    ]


def test_unreadable_style_is_a_warning_and_the_other_checks_go_on(
    deployment: Deployment,
) -> None:
    cognito = ManagedLoginCognito(deployment, 2, set(), branding_error="AccessDeniedException")
    deployment.update_client("ios", SupportedIdentityProviders=[])

    diagnosis = run_doctor(deployment, config_with_login_version(2), cognito)

    severities = sorted((c, s) for c, s, _ in findings(diagnosis))
    # The ios client's missing identity provider is still found after the denied reads.
    assert ("client", "error") in severities
    assert severities.count(("client", "warning")) == 2
    assert any("AccessDeniedException" in m for _, _, m in findings(diagnosis))
