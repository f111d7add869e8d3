"""One environment's stack: the user pool, its domain, the app clients and the outputs."""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import quote

import jsii
from aws_cdk import (
    Acknowledgment,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Tags,
    Validations,
)
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_cognito_identitypool as identitypool
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from mobile_sso import outputs
from mobile_sso.config import (
    ENTRA_GROUPS_CLAIM,
    ENTRA_OVERAGE_CLAIM,
    GROUP_MEMBERSHIP_CLAIMS,
    GROUPS_ATTRIBUTE,
    OVERAGE_ATTRIBUTE,
    AppClient,
    CustomDomain,
    EntraTenant,
    EnvironmentConfig,
    IdentityPoolSettings,
    OAuthFlow,
)
from sso_constructs import SsoAppClient, SsoResourceServer, SsoUserPool
from sso_constructs.certificate_monitor import CertificateExpiryMonitor
from sso_constructs.entra_saml_application import (
    EntraAssignment,
    EntraCloud,
    EntraFederation,
    EntraSamlApplication,
    PrincipalType,
)
from sso_constructs.groups_trigger import PreTokenTrigger, group_attributes

_REMOVAL = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}


# cdk-nag writes an IAM policy variable ${x} as <x> in the finding it reports.
_NAG_VARIABLE = re.compile(r"[$][{]([^}]*)[}]")


@jsii.implements(route53.IAliasRecordTarget)
class _CognitoDomainAlias:
    """Aliases a record to the domain's CloudFront distribution, read with Fn::GetAtt.

    CDK's UserPoolDomainTarget looks the distribution up with a custom resource (a Lambda
    allowed cognito-idp:DescribeUserPoolDomain on every resource); the attribute does not
    need one.
    """

    def __init__(self, domain: cognito.UserPoolDomain) -> None:
        self._domain = domain

    def bind(
        self,
        _record: route53.IRecordSet,
        _zone: route53.IHostedZone | None = None,
    ) -> route53.AliasRecordTargetConfig:
        cfn_domain = cast(cognito.CfnUserPoolDomain, self._domain.node.default_child)
        return route53.AliasRecordTargetConfig(
            dns_name=cfn_domain.attr_cloud_front_distribution,
            hosted_zone_id=route53_targets.CloudFrontTarget.get_hosted_zone_id(self._domain),
        )


class MobileSsoStack(Stack):
    """Cognito for mobile single sign-on, built from one validated environment config."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        # The stack's own tags, which CloudFormation also puts on every taggable resource:
        # under @aws-cdk/core:explicitStackTags, Tags.of(self) below reaches the resources only.
        super().__init__(scope, construct_id, tags=dict(config.tags), **kwargs)
        self.config = config
        removal_policy = _REMOVAL[config.removal_policy.value]

        certificate = None
        if config.domain.custom is not None:
            certificate = acm.Certificate.from_certificate_arn(
                self, "DomainCertificate", config.domain.custom.certificate_arn
            )
        self.pool = SsoUserPool(
            self,
            "UserPool",
            user_pool_name=config.user_pool.name,
            deletion_protection=config.deletion_protection,
            removal_policy=removal_policy,
            domain_prefix=config.domain.prefix,
            custom_domain_name=config.domain.custom.domain_name if config.domain.custom else None,
            custom_domain_certificate=certificate,
            managed_login_version=config.domain.managed_login_version,
            custom_attributes=group_attributes() if config.groups else None,
        )
        if config.domain.custom is not None and config.domain.custom.hosted_zone_id:
            self._domain_alias(config.domain.custom)
        self.entra_apps: dict[str, EntraSamlApplication] = {}
        self.identity_providers: dict[str, cognito.UserPoolIdentityProviderSaml] = {}
        # Federated tenants first: they make the shared handler role with its fixed name.
        for tenant in sorted(config.entra, key=lambda t: t.federation is None):
            self._entra(tenant)
        order = [tenant.idp_name for tenant in config.entra]
        self.entra_apps = {name: self.entra_apps[name] for name in order}
        self.identity_providers = {name: self.identity_providers[name] for name in order}
        self.resource_servers = {
            server.identifier: SsoResourceServer(
                self,
                f"ResourceServer-{server.identifier}",
                user_pool=self.pool.user_pool,
                identifier=server.identifier,
                name=server.name,
                scopes={scope.name: scope.description for scope in server.scopes},
            )
            for server in config.resource_servers
        }
        self.clients = {
            client.name: self._app_client(client, removal_policy) for client in config.clients
        }
        self._pre_token_trigger()
        for tenant in config.entra:
            target = config.idp_initiated_target(tenant)
            if target is not None:
                self.entra_apps[tenant.idp_name].set_relay_state(
                    self._relay_state(target, self.clients[target.name], tenant.idp_name)
                )
        if config.entra and config.monitoring.enabled:
            self._certificate_monitor()
        self.identity_pool: identitypool.IdentityPool | None = None
        if config.identity_pool is not None:
            self.identity_pool = self._identity_pool(config.identity_pool)
        self._outputs()
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

    def _pre_token_trigger(self) -> None:
        """Groups into the tokens, and each tenant held to its email domains (when either)."""
        groups, domains = self.config.groups, self.config.tenant_email_domains()
        if groups is None and not domains:
            return
        PreTokenTrigger(
            self,
            # "GroupsTrigger" predates tenant isolation: kept, so groups stacks keep their ids.
            "GroupsTrigger" if groups is not None else "TenantIsolationTrigger",
            user_pool=self.pool.user_pool,
            groups=groups is not None,
            group_names=groups.names if groups else None,
            add_to_cognito_groups=groups.add_to_cognito_groups if groups else False,
            tenant_email_domains=domains,
        )

    def _domain_alias(self, custom: CustomDomain) -> None:
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self,
            "DomainZone",
            hosted_zone_id=cast(str, custom.hosted_zone_id),
            zone_name=cast(str, custom.hosted_zone_name),
        )
        route53.ARecord(
            self,
            "DomainAlias",
            zone=zone,
            record_name=custom.domain_name,
            target=route53.RecordTarget.from_alias(_CognitoDomainAlias(self.pool.domain)),
        )

    def _identity_pool(self, settings: IdentityPoolSettings) -> identitypool.IdentityPool:
        """AWS credentials for signed-in users; the authenticated role gets only `statements`."""
        providers = [
            identitypool.UserPoolAuthenticationProvider(
                user_pool=self.pool.user_pool, user_pool_client=built.client
            )
            for built in self.clients.values()
        ]
        rules = [
            identitypool.RoleMappingRule(
                claim=settings.role_mapping_claim,
                claim_value=rule.value,
                match_type=identitypool.RoleMappingMatchType.CONTAINS,
                mapped_role=iam.Role.from_role_arn(
                    self, f"MappedRole{index}", rule.role_arn, mutable=False
                ),
            )
            for index, rule in enumerate(settings.role_rules)
        ]
        mappings = [
            identitypool.IdentityPoolRoleMapping(
                mapping_key=name,
                provider_url=identitypool.IdentityPoolProviderUrl.user_pool(
                    self.pool.user_pool, built.client
                ),
                rules=rules,
                resolve_ambiguous_roles=True,
            )
            for name, built in self.clients.items()
            if rules
        ]
        pool = identitypool.IdentityPool(
            self,
            "IdentityPool",
            allow_unauthenticated_identities=False,
            allow_classic_flow=False,
            authentication_providers=identitypool.IdentityPoolAuthenticationProviders(
                user_pools=providers
            ),
            role_mappings=mappings or None,
        )
        for statement in settings.statements:
            pool.authenticated_role.add_to_principal_policy(
                iam.PolicyStatement(actions=statement.actions, resources=statement.resources)
            )
        # cdk-nag names each wildcard it finds; the config is where they are reviewed.
        findings = {
            "Resource::" + _NAG_VARIABLE.sub(r"<\1>", resource)
            for statement in settings.statements
            for resource in statement.resources
            if "*" in resource
        } | {
            f"Action::{action}"
            for statement in settings.statements
            for action in statement.actions
            if "*" in action
        }
        Validations.of(pool.authenticated_role).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[{finding}]",
                    reason="Signed-in users' permissions come from identity_pool.statements in "
                    "the reviewed config, where bare '*' and 'service:*' are refused.",
                )
                for finding in sorted(findings)
            )
        )
        return pool

    def _certificate_monitor(self) -> None:
        monitoring = self.config.monitoring
        topic = (
            sns.Topic.from_topic_arn(self, "AlarmTopic", monitoring.alarm_topic_arn)
            if monitoring.alarm_topic_arn
            else None
        )
        CertificateExpiryMonitor(
            self,
            "CertificateMonitor",
            metadata_urls={name: app.metadata_url for name, app in self.entra_apps.items()},
            threshold_days=monitoring.certificate_expiry_days,
            check_every=Duration.hours(monitoring.check_every_hours),
            alarm_topic=topic,
        )

    def _credentials(self, reference: str) -> secretsmanager.ISecret:
        """The secret named or ARN'd by `reference`, imported once however many tenants use it."""
        construct_id = f"EntraCredentials-{reference}"
        existing = self.node.try_find_child(construct_id)
        if existing is not None:
            return cast(secretsmanager.ISecret, existing)
        if reference.startswith("arn:"):
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, reference)
        return secretsmanager.Secret.from_secret_name_v2(self, construct_id, reference)

    def _entra(self, entra: EntraTenant) -> None:
        # Ids keyed by the IdP name, never by position: adding or removing a tenant touches
        # only its own resources (and the clients' lists of providers).
        suffix = f"-{entra.idp_name}"
        app = EntraSamlApplication(
            self,
            f"EntraApp{suffix}",
            tenant_id=entra.tenant_id,
            display_name=self.config.entra_display_name(entra),
            identifier_uri=self.pool.saml_entity_id,
            reply_url=self.pool.saml_reply_url,
            logout_url=self.pool.saml_logout_url,
            credentials=self._credentials(entra.credentials_secret)
            if entra.credentials_secret
            else None,
            federation=_federation(entra),
            assignments=[
                *(EntraAssignment(u, PrincipalType.USER) for u in entra.assignments.users),
                *(EntraAssignment(g, PrincipalType.GROUP) for g in entra.assignments.groups),
            ],
            assignment_required=entra.assignment_required,
            notes=entra.notes,
            retain_on_delete=entra.retain_on_delete,
            cloud=EntraCloud(entra.cloud),
            group_membership_claims=GROUP_MEMBERSHIP_CLAIMS[self.config.groups.source]
            if self.config.groups
            else None,
        )
        self.entra_apps[entra.idp_name] = app
        mapping = entra.attribute_mapping

        def claim(uri: str | None) -> cognito.ProviderAttribute | None:
            return cognito.ProviderAttribute.other(uri) if uri else None

        self.identity_providers[entra.idp_name] = cognito.UserPoolIdentityProviderSaml(
            self,
            f"EntraIdp{suffix}",
            user_pool=self.pool.user_pool,
            name=entra.idp_name,
            identifiers=entra.email_domains or None,
            idp_initiated=entra.idp_initiated,
            request_signing_algorithm=cognito.SigningAlgorithm.RSA_SHA256
            if entra.sign_requests
            else None,
            metadata=cognito.UserPoolIdentityProviderSamlMetadata.url(app.metadata_url),
            attribute_mapping=cognito.AttributeMapping(
                email=claim(mapping.email),
                fullname=claim(mapping.name),
                given_name=claim(mapping.given_name),
                family_name=claim(mapping.family_name),
                custom={
                    f"custom:{GROUPS_ATTRIBUTE}": cognito.ProviderAttribute.other(
                        ENTRA_GROUPS_CLAIM
                    ),
                    f"custom:{OVERAGE_ATTRIBUTE}": cognito.ProviderAttribute.other(
                        ENTRA_OVERAGE_CLAIM
                    ),
                }
                if self.config.groups
                else None,
            ),
            idp_signout=entra.idp_signout,
        )

    def _app_client(self, client: AppClient, removal_policy: RemovalPolicy) -> SsoAppClient:
        validity = self.config.token_validity_for(client)
        providers = [
            cognito.UserPoolClientIdentityProvider.custom(
                self.identity_providers[name].provider_name
            )
            for name in self.config.client_idp_names(client)
        ]
        if client.allow_cognito_users:
            providers.append(cognito.UserPoolClientIdentityProvider.COGNITO)
        return SsoAppClient(
            self,
            f"Client-{client.name}",
            user_pool=self.pool.user_pool,
            client_name=client.name,
            callback_urls=client.callback_urls,
            sign_out_urls=client.sign_out_urls,
            scopes=client.scopes,
            authorization_code_grant=OAuthFlow.AUTHORIZATION_CODE in client.oauth_flows,
            implicit_grant=OAuthFlow.IMPLICIT in client.oauth_flows,
            generate_secret=client.generate_secret,
            id_token_validity=Duration.minutes(validity.id_token_minutes),
            access_token_validity=Duration.minutes(validity.access_token_minutes),
            refresh_token_validity=Duration.days(validity.refresh_token_days),
            secret_removal_policy=removal_policy,
            identity_providers=providers,
            managed_login_branding=self.config.domain.managed_login_version == 2,
            write_attributes=self._mapped_attributes() if self.config.groups else None,
            resource_servers=[
                server
                for identifier, server in self.resource_servers.items()
                if identifier in client.resource_server_identifiers()
            ],
        )

    def _outputs(self) -> None:
        sep = outputs.LIST_SEPARATOR
        pool = self.pool
        self._output(outputs.REGION, self.region, "AWS region of the user pool")
        self._output(outputs.USER_POOL_ID, pool.user_pool.user_pool_id, "User pool id")
        self._output(outputs.USER_POOL_ARN, pool.user_pool.user_pool_arn, "User pool ARN")
        self._output(outputs.COGNITO_DOMAIN, pool.domain_name, "Hosted-UI domain, no scheme")
        self._output(outputs.HOSTED_UI_URL, pool.base_url, "Hosted-UI base URL")
        self._output(
            outputs.SAML_ENTITY_ID, pool.saml_entity_id, "Entra app Identifier (SP entity id)"
        )
        self._output(outputs.SAML_REPLY_URL, pool.saml_reply_url, "Entra app Reply URL (ACS)")
        self._output(outputs.SAML_SIGN_OUT_URL, pool.saml_logout_url, "Entra app Logout URL")
        self._output(
            outputs.CLIENT_NAMES, sep.join(self.clients), "App client names, comma-separated"
        )
        if self.identity_pool is not None:
            self._output(
                outputs.IDENTITY_POOL_ID,
                self.identity_pool.identity_pool_id,
                "Cognito identity pool id (AWS credentials for signed-in users)",
            )
        if self.entra_apps:
            self._output(
                outputs.IDP_NAMES,
                sep.join(self.entra_apps),
                "Cognito SAML identity provider names, comma-separated",
            )
        role_arns = {
            app.handler_role.role_arn: EntraCloud(tenant.cloud)
            for tenant in self.config.entra
            if (app := self.entra_apps[tenant.idp_name]).handler_role is not None
        }
        for role_arn, cloud in role_arns.items():
            self._output(
                outputs.handler_role_output_key(cloud.value),
                role_arn,
                "Entra handler role: the subject of the deployer app's federated credential",
            )
        for tenant in self.config.entra:
            app = self.entra_apps[tenant.idp_name]
            for field, value, what in (
                (outputs.IDP_TENANT_ID, tenant.tenant_id, "Entra tenant id"),
                (outputs.IDP_ENTRA_APP_ID, app.app_id, "Entra application id"),
                (outputs.IDP_METADATA_URL, app.metadata_url, "federation metadata URL"),
            ):
                self._output(
                    outputs.idp_output_key(tenant.idp_name, field),
                    value,
                    f"IdP {tenant.idp_name!r}: {what}",
                )
        for client in self.config.clients:
            built = self.clients[client.name]
            fields = {
                outputs.CLIENT_ID: built.client.user_pool_client_id,
                outputs.CLIENT_IDENTITY_PROVIDERS: sep.join(
                    self.config.client_idp_names(client)
                    + (["COGNITO"] if client.allow_cognito_users else [])
                )
                or "none",
                outputs.CLIENT_PLATFORM: client.platform.value,
                outputs.CLIENT_CALLBACK_URLS: sep.join(client.callback_urls),
                outputs.CLIENT_SIGN_OUT_URLS: sep.join(client.sign_out_urls),
                outputs.CLIENT_SCOPES: sep.join(client.scopes),
                outputs.CLIENT_OAUTH_FLOWS: sep.join(f.value for f in client.oauth_flows),
            }
            if built.client_secret is not None:
                fields[outputs.CLIENT_SECRET_ARN] = built.client_secret.secret_arn
            for field, value in fields.items():
                self._output(
                    outputs.client_output_key(client.name, field),
                    value,
                    f"App client {client.name!r}: {field}",
                )
            for tenant in self.config.entra:
                if tenant.idp_initiated and tenant.idp_name in self.config.client_idp_names(client):
                    self._output(
                        outputs.relay_state_output_key(client.name, tenant.idp_name),
                        self._relay_state(client, built, tenant.idp_name),
                        f"Relay state for IdP-initiated sign-in to {client.name!r} "
                        f"via {tenant.idp_name!r}",
                    )

    def _mapped_attributes(self) -> cognito.ClientAttributes:
        """Every attribute an IdP maps: Cognito rewrites them at sign-in through the client,
        which must therefore be allowed to write them."""
        mappings = [tenant.attribute_mapping for tenant in self.config.entra]
        return (
            cognito.ClientAttributes()
            .with_standard_attributes(
                email=True,
                fullname=any(m.name for m in mappings),
                given_name=any(m.given_name for m in mappings),
                family_name=any(m.family_name for m in mappings),
            )
            .with_custom_attributes(GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE)
        )

    @staticmethod
    def _relay_state(client: AppClient, built: SsoAppClient, idp_name: str) -> str:
        """The `/oauth2/authorize` parameters Cognito reads from an IdP-initiated RelayState."""
        response_type = "code" if OAuthFlow.AUTHORIZATION_CODE in client.oauth_flows else "token"
        return (
            f"identity_provider={quote(idp_name)}&client_id={built.client.user_pool_client_id}"
            f"&redirect_uri={quote(client.callback_urls[0], safe='')}"
            f"&response_type={response_type}&scope={'+'.join(quote(s) for s in client.scopes)}"
        )

    def _output(self, key: str, value: str, description: str) -> None:
        CfnOutput(self, key, value=value, description=description)


def _federation(entra: EntraTenant) -> EntraFederation | None:
    if entra.federation is None:
        return None
    if entra.federation.client_id is None:
        # Only a config loaded for `mobile-sso bootstrap-entra` lacks it.
        raise ValueError(f"entra {entra.idp_name}: federation.client_id is not set")
    return EntraFederation(entra.federation.client_id, entra.federation.audience)
