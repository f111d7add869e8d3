"""One environment's stack: the user pool, its domain, the app clients and the outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from mobile_sso import outputs
from mobile_sso.config import AppClient, EntraSettings, EnvironmentConfig, OAuthFlow
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
        self.entra_app: EntraSamlApplication | None = None
        self.identity_providers: dict[str, cognito.UserPoolIdentityProviderSaml] = {}
        if config.entra is not None:
            self._entra(config.entra)
        self.clients = {
            client.name: self._app_client(client, removal_policy) for client in config.clients
        }
        self._outputs()
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)

    def _entra(self, entra: EntraSettings) -> None:
        credentials = (
            secretsmanager.Secret.from_secret_complete_arn(
                self, "EntraCredentials", entra.credentials_secret
            )
            if entra.credentials_secret.startswith("arn:")
            else secretsmanager.Secret.from_secret_name_v2(
                self, "EntraCredentials", entra.credentials_secret
            )
        )
        self.entra_app = EntraSamlApplication(
            self,
            "EntraApp",
            tenant_id=entra.tenant_id,
            display_name=self.config.entra_display_name,
            identifier_uri=self.pool.saml_entity_id,
            reply_url=self.pool.saml_reply_url,
            logout_url=self.pool.saml_logout_url,
            credentials=credentials,
            assignments=[
                *(EntraAssignment(u, PrincipalType.USER) for u in entra.assignments.users),
                *(EntraAssignment(g, PrincipalType.GROUP) for g in entra.assignments.groups),
            ],
            assignment_required=entra.assignment_required,
            notes=entra.notes,
            retain_on_delete=entra.retain_on_delete,
            cloud=EntraCloud(entra.cloud),
        )
        mapping = entra.attribute_mapping

        def claim(uri: str | None) -> cognito.ProviderAttribute | None:
            return cognito.ProviderAttribute.other(uri) if uri else None

        self.identity_providers[entra.idp_name] = cognito.UserPoolIdentityProviderSaml(
            self,
            "EntraIdp",
            user_pool=self.pool.user_pool,
            name=entra.idp_name,
            metadata=cognito.UserPoolIdentityProviderSamlMetadata.url(self.entra_app.metadata_url),
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
        if self.entra_app is not None:
            (idp_name,) = self.identity_providers
            self._output(outputs.IDP_NAME, idp_name, "Cognito SAML identity provider name")
            self._output(outputs.ENTRA_APP_ID, self.entra_app.app_id, "Entra application id")
            self._output(
                outputs.ENTRA_METADATA_URL,
                self.entra_app.metadata_url,
                "Entra app federation metadata URL",
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
