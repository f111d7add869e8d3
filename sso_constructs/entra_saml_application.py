"""The Microsoft Entra ID enterprise application (non-gallery, SAML) as a custom resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CustomResource,
    Duration,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from mobile_sso import outputs
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


# Entra's recommended audience for federated identity credentials.
DEFAULT_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
# What the handler asks STS for (credentials.py); the policy allows nothing else.
FEDERATION_SIGNING_ALGORITHM = "RS256"
FEDERATION_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class EntraFederation:
    """No stored secret: the deployer app registration `client_id` has a federated identity
    credential trusting the handler role's AWS STS web identity tokens for `audience`."""

    client_id: str
    audience: str = DEFAULT_FEDERATION_AUDIENCE


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

    The handler signs in as the deployer app registration with exactly one of:
    `credentials`, a Secrets Manager secret holding its
    `{"tenantId", "clientId", "clientSecret" | "certificatePem"}` (only the ARN reaches the
    template; the handler reads it at run time), or `federation`: no stored secret, the
    handler presents an AWS STS web identity token (IAM outbound identity federation). The
    handler role then has a fixed name (`handler_role_name`), because the app
    registration's federated credential names it before the first deployment; the role may
    call sts:GetWebIdentityToken for that audience only. Changing `tenant_id` replaces the
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
        credentials: secretsmanager.ISecret | None = None,
        federation: EntraFederation | None = None,
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
        if (credentials is None) == (federation is None):
            raise ValueError(
                "give exactly one of credentials (a Secrets Manager secret) or federation "
                "(no stored secret: the deployer app's client id)"
            )

        self._login = CLOUD_ENDPOINTS[cloud].login
        self._tenant_id = tenant_id
        provider = _provider(self, cloud, federated=federation is not None)
        self._service_token = provider.provider.service_token
        self.handler_role: iam.IRole | None = None
        self._credential_properties: dict[str, Any]
        if credentials is None and federation is not None:
            _check_guid("federation client_id", federation.client_id)
            self.handler_role = provider.allow_federation(federation.audience)
            self._credential_properties = {
                "FederatedClientId": federation.client_id,
                "FederationAudience": federation.audience,
            }
        elif credentials is not None:
            for function in provider.functions:
                credentials.grant_read(function)
            self._credential_properties = {"CredentialsSecretArn": credentials.secret_arn}
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
                **self._credential_properties,
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
                **self._credential_properties,
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


def handler_role_name(stack_name: str, cloud: EntraCloud = EntraCloud.GLOBAL) -> str:
    """The fixed name of the handler role when federation is used (see
    `mobile_sso.outputs.handler_role_name`, which `mobile-sso bootstrap-entra` shares)."""
    return outputs.handler_role_name(stack_name, cloud.value)


def _provider(scope: Construct, cloud: EntraCloud, *, federated: bool) -> _EntraProvider:
    """One provider per stack and cloud, shared by every Entra application in the stack."""
    stack = Stack.of(scope)
    provider_id = f"EntraSamlAppProvider-{cloud.value}"
    existing = stack.node.try_find_child(provider_id)
    if isinstance(existing, _EntraProvider):
        if federated and existing.role is None:
            raise ValueError(
                f"stack {stack.stack_name}: create the federated Entra applications of the "
                f"{cloud.value} cloud before those with a credentials secret (their shared "
                "handler role is made with the first application)"
            )
        return existing
    return _EntraProvider(stack, provider_id, cloud=cloud, federated=federated)


class _EntraProvider(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, cloud: EntraCloud, federated: bool
    ) -> None:
        super().__init__(scope, construct_id)
        endpoints = CLOUD_ENDPOINTS[cloud]
        # Federation: one role with a fixed name for both handlers, because the app
        # registration's federated credential names it (subject) before the first deploy.
        self.role: iam.Role | None = None
        self._audiences: set[str] = set()
        if federated:
            self.role = iam.Role(
                self,
                "HandlerRole",
                role_name=handler_role_name(Stack.of(self).stack_name, cloud),
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name(
                        "service-role/AWSLambdaBasicExecutionRole"
                    )
                ],
                description="Entra SAML application handlers: signs in to Entra with its own "
                "AWS STS web identity token (no stored secret)",
            )
        environment = {
            "ENTRA_GRAPH_ENDPOINT": endpoints.graph,
            "ENTRA_LOGIN_AUTHORITY": endpoints.login,
            "ENTRA_NON_GALLERY_TEMPLATE_ID": endpoints.non_gallery_template_id,
            # Outside the global service Graph has no addTokenSigningCertificate: the handler
            # then makes the signing certificate and uploads it.
            "ENTRA_CLOUD": cloud.value,
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
                role=self.role,
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

    def allow_federation(self, audience: str) -> iam.Role:
        """Let the handlers ask STS for web identity tokens for `audience`, and only
        for it, only RS256-signed and short-lived as the handler asks for them."""
        if self.role is None:
            raise ValueError("this provider was made for secret credentials, not federation")
        if audience not in self._audiences:
            self._audiences.add(audience)
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["sts:GetWebIdentityToken"],
                    resources=["*"],
                    conditions={
                        "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": [audience]},
                        # ForAllValues holds vacuously for a request without an audience.
                        "Null": {"sts:IdentityTokenAudience": "false"},
                        "StringEquals": {"sts:SigningAlgorithm": FEDERATION_SIGNING_ALGORITHM},
                        "NumericLessThanEquals": {"sts:DurationSeconds": FEDERATION_TOKEN_SECONDS},
                    },
                )
            )
        if len(self._audiences) == 1:
            Validations.of(self.role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="sts:GetWebIdentityToken has no resource type: it is granted on "
                    "'*' and narrowed by conditions to the configured audience, RS256 and "
                    f"tokens of at most {FEDERATION_TOKEN_SECONDS} seconds.",
                )
            )
        return self.role

    def _framework_functions(self) -> list[lambda_.Function]:
        return [
            child for child in self.provider.node.find_all() if isinstance(child, lambda_.Function)
        ]
