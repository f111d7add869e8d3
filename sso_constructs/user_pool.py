"""The Cognito user pool that federated mobile users sign in to, with its hosted-UI domain."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from constructs import Construct

_LOGIN_VERSIONS = {
    1: cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
    2: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
}


class SsoUserPool(Construct):
    """A user pool where users arrive federated (self sign-up off), signing in by email.

    Exactly one of `domain_prefix` (`https://<prefix>.auth.<region>.amazoncognito.com`) or
    `custom_domain_name` + `custom_domain_certificate` (an ACM certificate in us-east-1).
    Deletion protection and the removal policy come from the caller: the stack turns both
    on outside dev environments. `managed_login_version` 1 is the classic hosted UI, 2 the
    newer managed login (whose clients each need a branding style: see SsoAppClient).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool_name: str,
        deletion_protection: bool,
        removal_policy: RemovalPolicy,
        domain_prefix: str | None = None,
        custom_domain_name: str | None = None,
        custom_domain_certificate: acm.ICertificate | None = None,
        managed_login_version: int = 1,
        custom_attributes: Mapping[str, cognito.ICustomAttribute] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if (domain_prefix is None) == (custom_domain_name is None):
            raise ValueError("SsoUserPool needs exactly one of domain_prefix or custom_domain_name")
        if (custom_domain_name is None) != (custom_domain_certificate is None):
            raise ValueError(
                "SsoUserPool: custom_domain_name and custom_domain_certificate go together"
            )
        if managed_login_version not in _LOGIN_VERSIONS:
            raise ValueError(f"managed_login_version must be 1 or 2, got {managed_login_version}")
        login_version = _LOGIN_VERSIONS[managed_login_version]

        self.user_pool = cognito.UserPool(
            self,
            "Resource",
            user_pool_name=user_pool_name,
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            # Mapped SAML attributes are rewritten at every federated sign-in, so they must
            # stay mutable, or the second sign-in of each user fails.
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
            ),
            custom_attributes=dict(custom_attributes) if custom_attributes else None,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OFF,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )
        Validations.of(self.user_pool).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG2",
                reason="Users sign in through Microsoft Entra ID, whose Conditional Access "
                "enforces MFA; the pool has no self sign-up and no local passwords in use.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG3",
                reason="Threat protection needs the Plus feature plan and guards local "
                "passwords; federated sign-ins are protected by Entra ID's own risk policies.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG8",
                reason="The Plus feature plan adds threat protection for local passwords at a "
                "per-user cost; users here authenticate at Entra ID, so Essentials suffices.",
            ),
        )

        if domain_prefix is not None:
            self.domain = self.user_pool.add_domain(
                "Domain",
                cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
                managed_login_version=login_version,
            )
            region = Stack.of(self).region
            self.domain_name: str = f"{domain_prefix}.auth.{region}.amazoncognito.com"
        elif custom_domain_name is not None and custom_domain_certificate is not None:
            self.domain = self.user_pool.add_domain(
                "Domain",
                custom_domain=cognito.CustomDomainOptions(
                    domain_name=custom_domain_name, certificate=custom_domain_certificate
                ),
                managed_login_version=login_version,
            )
            self.domain_name = custom_domain_name

    @property
    def base_url(self) -> str:
        """The hosted UI's base URL, `https://<domain>`."""
        return f"https://{self.domain_name}"

    @property
    def saml_entity_id(self) -> str:
        """The SAML service-provider entity id Entra calls the app's Identifier."""
        return f"urn:amazon:cognito:sp:{self.user_pool.user_pool_id}"

    @property
    def saml_reply_url(self) -> str:
        """Where Entra posts the SAML response (its Reply URL, the ACS URL)."""
        return f"{self.base_url}/saml2/idpresponse"

    @property
    def saml_logout_url(self) -> str:
        """Cognito's SAML sign-out endpoint (Entra's Logout URL)."""
        return f"{self.base_url}/saml2/logout"
