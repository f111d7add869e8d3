"""An app client of the pool with every OAuth setting explicit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from sso_constructs.resource_server import SsoResourceServer

_STANDARD_SCOPES = {
    "openid": cognito.OAuthScope.OPENID,
    "email": cognito.OAuthScope.EMAIL,
    "phone": cognito.OAuthScope.PHONE,
    "profile": cognito.OAuthScope.PROFILE,
    "aws.cognito.signin.user.admin": cognito.OAuthScope.COGNITO_ADMIN,
}


# The construct id of CDK's singleton AwsCustomResource function in a stack.
_AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def _oauth_scope(name: str) -> cognito.OAuthScope:
    return _STANDARD_SCOPES.get(name) or cognito.OAuthScope.custom(name)


class SsoAppClient(Construct):
    """A hosted-UI app client: authorization code grant with PKCE and no secret by default.

    CDK's own defaults are permissive (both grants, every scope, callback
    https://example.com, every IdP of the pool), so every OAuth setting is passed
    explicitly; the `resource_servers` defining its custom scopes are created first. The only
    direct auth flow left on is refresh-token, since sign-in happens
    in the hosted UI. Token lifetimes default to 60 minutes (ID, access) and 30 days
    (refresh). When `generate_secret` is set, the secret goes to a Secrets Manager
    secret (`client_secret`), never to an output.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool: cognito.IUserPool,
        client_name: str,
        callback_urls: Sequence[str],
        sign_out_urls: Sequence[str],
        scopes: Sequence[str],
        authorization_code_grant: bool = True,
        implicit_grant: bool = False,
        generate_secret: bool = False,
        identity_providers: Sequence[cognito.UserPoolClientIdentityProvider] = (),
        id_token_validity: Duration | None = None,
        access_token_validity: Duration | None = None,
        refresh_token_validity: Duration | None = None,
        secret_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        managed_login_branding: bool = False,
        write_attributes: cognito.ClientAttributes | None = None,
        resource_servers: Sequence[SsoResourceServer] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if not callback_urls:
            raise ValueError(f"app client {client_name!r} needs at least one callback URL")
        if not (authorization_code_grant or implicit_grant):
            raise ValueError(f"app client {client_name!r} needs at least one OAuth grant")

        self.client = cognito.UserPoolClient(
            self,
            "Resource",
            user_pool=user_pool,
            user_pool_client_name=client_name,
            generate_secret=generate_secret,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(
                    authorization_code_grant=authorization_code_grant,
                    implicit_code_grant=implicit_grant,
                    client_credentials=False,
                ),
                scopes=[_oauth_scope(s) for s in scopes],
                callback_urls=list(callback_urls),
                logout_urls=list(sign_out_urls),
            ),
            supported_identity_providers=list(identity_providers),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=id_token_validity or Duration.minutes(60),
            access_token_validity=access_token_validity or Duration.minutes(60),
            refresh_token_validity=refresh_token_validity or Duration.days(30),
            write_attributes=write_attributes,
        )
        cfn_client = cast(cognito.CfnUserPoolClient, self.client.node.default_child)
        cfn_client.explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
        # Cognito refuses a custom scope that no resource server of the pool defines yet.
        for server in resource_servers:
            self.client.node.add_dependency(server.resource_server)
        if not identity_providers:
            # CDK reads an empty list as "every IdP of the pool"; keep it truly empty.
            cfn_client.supported_identity_providers = []

        if managed_login_branding:
            # Managed login (version 2) shows an error page to a client without a style.
            cognito.CfnManagedLoginBranding(
                self,
                "Branding",
                user_pool_id=user_pool.user_pool_id,
                client_id=self.client.user_pool_client_id,
                use_cognito_provided_values=True,
            )

        self.client_secret: secretsmanager.Secret | None = None
        if generate_secret:
            self.client_secret = secretsmanager.Secret(
                self,
                "ClientSecret",
                description=f"Cognito app client secret of {client_name!r}",
                secret_string_value=self.client.user_pool_client_secret,
                removal_policy=secret_removal_policy,
            )
            self._acknowledge_secret_lookup()
            Validations.of(self.client_secret).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SMG4",
                    reason="Cognito generates the client secret; Secrets Manager cannot rotate "
                    "it. Rotate by replacing the app client.",
                )
            )

    def _acknowledge_secret_lookup(self) -> None:
        # Reading the generated secret goes through CDK's shared AwsCustomResource function;
        # its log group permissions come from the AWS managed basic-execution policy.
        lookup = Stack.of(self).node.try_find_child(_AWS_CUSTOM_RESOURCE_FUNCTION_ID)
        if lookup is not None:
            Validations.of(lookup).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSLambdaBasicExecutionRole]",
                    reason="CDK's shared AwsCustomResource function that reads the generated "
                    "client secret uses AWSLambdaBasicExecutionRole for its own logs only.",
                )
            )
