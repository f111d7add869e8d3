"""One environment's stack: the user pool, its domain, the app clients and the outputs."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from mobile_sso import outputs
from mobile_sso.config import AppClient, EntraTenant, EnvironmentConfig, OAuthFlow
from sso_constructs import SsoAppClient, SsoUserPool
from sso_constructs.entra_saml_application import (
    EntraAssignment,
    EntraCloud,
    EntraSamlApplication,
    PrincipalType,
)

_REMOVAL = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}


class MobileSsoStack(Stack):
    """Cognito for mobile single sign-on, built from one validated environment config."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
        )
        self.entra_apps: dict[str, EntraSamlApplication] = {}
        self.identity_providers: dict[str, cognito.UserPoolIdentityProviderSaml] = {}
        for tenant in config.entra:
            self._entra(tenant)
        self.clients = {
            client.name: self._app_client(client, removal_policy) for client in config.clients
        }
        self._outputs()
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

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
            credentials=self._credentials(entra.credentials_secret),
            assignments=[
                *(EntraAssignment(u, PrincipalType.USER) for u in entra.assignments.users),
                *(EntraAssignment(g, PrincipalType.GROUP) for g in entra.assignments.groups),
            ],
            assignment_required=entra.assignment_required,
            notes=entra.notes,
            retain_on_delete=entra.retain_on_delete,
            cloud=EntraCloud(entra.cloud),
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
            metadata=cognito.UserPoolIdentityProviderSamlMetadata.url(app.metadata_url),
            attribute_mapping=cognito.AttributeMapping(
                email=claim(mapping.email),
                fullname=claim(mapping.name),
                given_name=claim(mapping.given_name),
                family_name=claim(mapping.family_name),
            ),
            idp_signout=False,
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
        if self.entra_apps:
            self._output(
                outputs.IDP_NAMES,
                sep.join(self.entra_apps),
                "Cognito SAML identity provider names, comma-separated",
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

    def _output(self, key: str, value: str, description: str) -> None:
        CfnOutput(self, key, value=value, description=description)
