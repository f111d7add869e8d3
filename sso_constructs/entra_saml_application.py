"""The Microsoft Entra ID enterprise application (non-gallery, SAML) as a custom resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CustomResource,
    Duration,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from sso_constructs.entra_bundle import ENTRA_HANDLER_BUNDLE

RESOURCE_TYPE = "Custom::EntraSamlApplication"
RELAY_STATE_RESOURCE_TYPE = "Custom::EntraSamlRelayState"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class EntraCloud(StrEnum):
    """The Microsoft cloud the tenant lives in."""

    GLOBAL = "global"
    US_GOVERNMENT = "usgov"
    US_GOVERNMENT_DOD = "usgov-dod"
    CHINA = "china"


@dataclass(frozen=True)
class CloudEndpoints:
    graph: str
    login: str
    non_gallery_template_id: str


# Microsoft's documented endpoints and non-gallery template ids per national cloud.
CLOUD_ENDPOINTS = {
    EntraCloud.GLOBAL: CloudEndpoints(
        "https://graph.microsoft.com",
        "https://login.microsoftonline.com",
        "8adf8e6e-67b2-4cf2-a259-e3dc5476c621",
    ),
    EntraCloud.US_GOVERNMENT: CloudEndpoints(
        "https://graph.microsoft.us",
        "https://login.microsoftonline.us",
        "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
    ),
    EntraCloud.US_GOVERNMENT_DOD: CloudEndpoints(
        "https://dod-graph.microsoft.us",
        "https://login.microsoftonline.us",
        "4602d0b4-76bb-404b-bca9-2652e1a39c6d",
    ),
    EntraCloud.CHINA: CloudEndpoints(
        "https://microsoftgraph.chinacloudapi.cn",
        "https://login.chinacloudapi.cn",
        "5a532e38-1581-4918-9658-008dc27c1d68",
    ),
}


class PrincipalType(StrEnum):
    USER = "User"
    GROUP = "Group"


@dataclass(frozen=True)
class EntraAssignment:
    """A user or group (by Entra object id) allowed to sign in through the application."""

    principal_id: str
    principal_type: PrincipalType


class EntraSamlApplication(Construct):
    """A non-gallery SAML enterprise application in an Entra tenant, made through Graph.

    The handler instantiates the non-gallery template, switches it to SAML, sets the
    identifier, reply and logout URLs, adds and activates a signing certificate, requires
    assignment (default) and assigns the given users and groups. The resource reports
    success only once the app's federation metadata URL serves that certificate, so a
    Cognito SAML identity provider created from `metadata_url` finds it.

    `credentials` is a Secrets Manager secret holding the deployer app registration's
    `{"tenantId", "clientId", "clientSecret" | "certificatePem"}`; only its ARN reaches the
    template, and the handler reads it at run time. Changing `tenant_id` replaces the
    application; everything else updates in place. `retain_on_delete` leaves the
    application in the tenant when the resource is deleted. `group_membership_claims`
    (ApplicationGroup, SecurityGroup or All) makes Entra send the user's group object ids.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant_id: str,
        display_name: str,
        identifier_uri: str,
        reply_url: str,
        credentials: secretsmanager.ISecret,
        logout_url: str = "",
        assignments: Sequence[EntraAssignment] = (),
        assignment_required: bool = True,
        notes: str = "",
        retain_on_delete: bool = False,
        cloud: EntraCloud = EntraCloud.GLOBAL,
        certificate_validity_years: int = 3,
        group_membership_claims: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        _check_guid("tenant_id", tenant_id)
        for assignment in assignments:
            _check_guid("assignments principal_id", assignment.principal_id)
        if not Token.is_unresolved(display_name) and not 1 <= len(display_name) <= 256:
            raise ValueError(f"display_name must be 1-256 characters, got {len(display_name)}")
        if not 1 <= certificate_validity_years <= 3:
            raise ValueError("certificate_validity_years must be 1-3 (Entra's maximum is 3)")

        self._login = CLOUD_ENDPOINTS[cloud].login
        self._tenant_id = tenant_id
        provider = _provider(self, cloud)
        self._service_token = provider.provider.service_token
        self._credentials_arn = credentials.secret_arn
        for function in provider.functions:
            credentials.grant_read(function)
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.provider.service_token,
            resource_type=RESOURCE_TYPE,
            service_timeout=_SERVICE_TIMEOUT,
            properties={
                "TenantId": tenant_id,
                "DisplayName": display_name,
                "IdentifierUri": identifier_uri,
                "ReplyUrl": reply_url,
                "LogoutUrl": logout_url,
                "Assignments": [
                    {"PrincipalId": a.principal_id, "PrincipalType": a.principal_type.value}
                    for a in assignments
                ],
                "AssignmentRequired": str(assignment_required).lower(),
                "Notes": notes,
                "CredentialsSecretArn": credentials.secret_arn,
                "RetainOnDelete": str(retain_on_delete).lower(),
                "CertificateValidityYears": str(certificate_validity_years),
                # Only when asked: the handler converges an absent value to "None".
                **(
                    {"GroupMembershipClaims": group_membership_claims}
                    if group_membership_claims
                    else {}
                ),
            },
        )

    def set_relay_state(self, relay_state: str) -> CustomResource:
        """Writes the RelayState Entra sends on IdP-initiated sign-in (My Apps tile).

        A resource of its own, because the value names a Cognito app client, which exists
        only after this application (client -> IdP -> application).
        """
        return CustomResource(
            self,
            "RelayState",
            service_token=self._service_token,
            resource_type=RELAY_STATE_RESOURCE_TYPE,
            service_timeout=_SERVICE_TIMEOUT,
            properties={
                "TenantId": self._tenant_id,
                "ServicePrincipalId": self.service_principal_id,
                "RelayState": relay_state,
                "CredentialsSecretArn": self._credentials_arn,
            },
        )

    @property
    def application_object_id(self) -> str:
        return self.resource.get_att_string("ApplicationObjectId")

    @property
    def app_id(self) -> str:
        return self.resource.get_att_string("AppId")

    @property
    def service_principal_id(self) -> str:
        return self.resource.get_att_string("ServicePrincipalId")

    @property
    def metadata_url(self) -> str:
        """The app-specific federation metadata URL (a document too big for a response).

        Built here from the cloud's login host and the tenant, taking only the app id from
        the handler's answer: whoever could forge that answer (CloudFormation's response
        URL is visible to readers of the Provider's executions) can at most name an app id,
        never point Cognito at metadata of their own.
        """
        return (
            f"{self._login}/{self._tenant_id}/federationmetadata/2007-06/"
            f"federationmetadata.xml?appid={self.app_id}"
        )

    @property
    def signing_certificate_thumbprint(self) -> str:
        return self.resource.get_att_string("SigningCertificateThumbprint")

    @property
    def signing_certificate_expiry(self) -> str:
        return self.resource.get_att_string("SigningCertificateExpiry")


# Replication and the first metadata fetch take seconds to minutes in real tenants.
_POLL_INTERVAL = Duration.seconds(10)
_TOTAL_TIMEOUT = Duration.minutes(30)
_SERVICE_TIMEOUT = Duration.minutes(45)
_HANDLER_TIMEOUT = Duration.minutes(10)
# The handler's own retry deadline ends first, so a slow tenant fails with a reason that
# names the step, rather than with a bare Lambda timeout.
_HANDLER_DEADLINE_SECONDS = 8 * 60


def _logical_id(function: lambda_.Function) -> str:
    return Stack.of(function).get_logical_id(cast(CfnElement, function.node.default_child))


def _check_guid(name: str, value: str) -> None:
    import re  # noqa: PLC0415 - keep the module's import list about CDK

    if not Token.is_unresolved(value) and not re.fullmatch(_GUID, value):
        raise ValueError(
            f"{name} must be a GUID such as 00000000-0000-0000-0000-000000000000, got {value!r}"
        )


def _provider(scope: Construct, cloud: EntraCloud) -> _EntraProvider:
    """One provider per stack and cloud, shared by every Entra application in the stack."""
    stack = Stack.of(scope)
    provider_id = f"EntraSamlAppProvider-{cloud.value}"
    existing = stack.node.try_find_child(provider_id)
    if isinstance(existing, _EntraProvider):
        return existing
    return _EntraProvider(stack, provider_id, cloud=cloud)


class _EntraProvider(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, cloud: EntraCloud) -> None:
        super().__init__(scope, construct_id)
        endpoints = CLOUD_ENDPOINTS[cloud]
        environment = {
            "ENTRA_GRAPH_ENDPOINT": endpoints.graph,
            "ENTRA_LOGIN_AUTHORITY": endpoints.login,
            "ENTRA_NON_GALLERY_TEMPLATE_ID": endpoints.non_gallery_template_id,
            "ENTRA_DEADLINE_SECONDS": str(_HANDLER_DEADLINE_SECONDS),
        }
        functions = {
            name: ENTRA_HANDLER_BUNDLE.function(
                self,
                name,
                handler=f"entra_saml_app.handler.{entry}",
                timeout=_HANDLER_TIMEOUT,
                memory_size=1024,
                environment=environment,
                description=f"Entra SAML application custom resource: {entry}",
            )
            for name, entry in (("OnEvent", "on_event"), ("IsComplete", "is_complete"))
        }
        self.functions = list(functions.values())
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=functions["OnEvent"],
            is_complete_handler=functions["IsComplete"],
            query_interval=_POLL_INTERVAL,
            total_timeout=_TOTAL_TIMEOUT,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH),
        )
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="python3.13 is supported by Lambda until mid-2029; the bundle's bytecode "
                "is compiled for exactly this version, which the newest runtime would ignore.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                reason="The handler and provider functions use the basic execution policy to "
                "write their own logs; they call no other AWS API but reading their secret.",
            ),
        )
        invoked = [*functions.values(), *self._framework_functions()]
        Validations.of(self.provider).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{_logical_id(fn)}.Arn>:*]",
                    reason="CDK's Provider framework invokes this function by its ARN plus "
                    "':*' (any version); the wildcard covers versions, not other functions.",
                )
                for fn in invoked
            ),
            Acknowledgment(
                id="AwsSolutions-SF1",
                reason="The Provider framework's waiter state machine only polls isComplete; "
                "the handler functions log every step themselves.",
            ),
            Acknowledgment(
                id="AwsSolutions-SF2",
                reason="X-Ray tracing of the Provider framework's waiter adds cost and no "
                "insight: it only re-invokes isComplete every poll interval.",
            ),
        )

    def _framework_functions(self) -> list[lambda_.Function]:
        return [
            child for child in self.provider.node.find_all() if isinstance(child, lambda_.Function)
        ]
