"""Names of the stack outputs: a contract between the stack and `mobile-sso export`.

Renaming one breaks every mobile build that reads it, so the names live here, once,
and a test pins them.
"""

from __future__ import annotations

import hashlib
import re

REGION = "Region"
USER_POOL_ID = "UserPoolId"
USER_POOL_ARN = "UserPoolArn"
COGNITO_DOMAIN = "CognitoDomain"
HOSTED_UI_URL = "HostedUiUrl"
SAML_ENTITY_ID = "SamlEntityId"
SAML_REPLY_URL = "SamlReplyUrl"
SAML_SIGN_OUT_URL = "SamlSignOutUrl"
CLIENT_NAMES = "ClientNames"
IDP_NAMES = "IdentityProviderNames"
IDENTITY_POOL_ID = "IdentityPoolId"
# The handler role's ARN when a tenant uses federated credentials (no stored secret): the
# subject of the deployer app registration's federated identity credential.
ENTRA_HANDLER_ROLE_ARN = "EntraHandlerRoleArn"

# Template metadata on each bundled Lambda function: {"source": <the bundle's source key>,
# "bytecode": <whether bytecode for the runtime's Python is shipped>}. `mobile-sso plan`
# reads it to tell a bytecode-only change from a code change.
BUNDLE_METADATA = "mobile-sso:bundle"

# Per Entra tenant (identity provider): "Idp" + its name's letters and digits + one of these.
IDP_TENANT_ID = "TenantId"
IDP_ENTRA_APP_ID = "EntraAppId"
IDP_METADATA_URL = "MetadataUrl"

# Per app client: "Client" + PascalCase(name) + one of these.
CLIENT_ID = "Id"
CLIENT_CALLBACK_URLS = "CallbackUrls"
CLIENT_SIGN_OUT_URLS = "SignOutUrls"
CLIENT_SCOPES = "Scopes"
CLIENT_OAUTH_FLOWS = "OAuthFlows"
CLIENT_PLATFORM = "Platform"
CLIENT_IDENTITY_PROVIDERS = "IdentityProviders"
CLIENT_SECRET_ARN = "SecretArn"  # noqa: S105 - an output name, not a secret

LIST_SEPARATOR = ","


def client_output_key(client_name: str, field: str) -> str:
    """The output key of one field of one client: ("ios-app", "Id") -> "ClientIosAppId"."""
    pascal = "".join(part[:1].upper() + part[1:] for part in client_name.split("-"))
    return f"Client{pascal}{field}"


def idp_output_key(idp_name: str, field: str) -> str:
    """The output key of one field of one IdP: ("Contoso EU", "MetadataUrl") ->
    "IdpContosoEUMetadataUrl"."""
    return "Idp" + re.sub(r"[^A-Za-z0-9]", "", idp_name) + field


def handler_role_output_key(cloud: str) -> str:
    """EntraHandlerRoleArn for the global cloud; + the cloud's letters for another one:
    ("usgov-dod") -> "EntraHandlerRoleArnUsgovDod"."""
    if cloud == "global":
        return ENTRA_HANDLER_ROLE_ARN
    return ENTRA_HANDLER_ROLE_ARN + "".join(part.capitalize() for part in cloud.split("-"))


def relay_state_output_key(client_name: str, idp_name: str) -> str:
    """The RelayState Entra must send for IdP-initiated sign-in to one client through one IdP."""
    return client_output_key(client_name, idp_output_key(idp_name, "RelayState"))


_MAX_ROLE_NAME = 64  # IAM's limit


def handler_role_name(stack_name: str, cloud: str = "global") -> str:
    """The fixed name of the Entra handler role when federation is used:
    `<stack>-entra-handler` (plus `-<cloud>` outside the global cloud), shortened with a
    hash to IAM's 64. Fixed because the deployer app registration's federated credential
    names the role (its subject) before the first deploy."""
    suffix = "-entra-handler" + ("" if cloud == "global" else f"-{cloud}")
    name = f"{stack_name}{suffix}"
    if len(name) <= _MAX_ROLE_NAME:
        return name
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:8]
    return f"{stack_name[: _MAX_ROLE_NAME - len(suffix) - 9]}-{digest}{suffix}"


def handler_role_arn(account: str, region: str, stack_name: str, cloud: str = "global") -> str:
    """The handler role's ARN, in the partition of the stack's AWS region."""
    partition = (
        "aws-cn"
        if region.startswith("cn-")
        else "aws-us-gov"
        if region.startswith("us-gov-")
        else "aws"
    )
    return f"arn:{partition}:iam::{account}:role/{handler_role_name(stack_name, cloud)}"
