"""Is a deployed environment healthy? The checks behind `mobile-sso doctor`.

`diagnose` reads a deployment through injected ports (a cognito-idp client, a metadata
fetcher, a Graph reader per Entra tenant) and compares what it finds with the environment's
config, never with what the clouds merely accept: moto, and sometimes Cognito itself,
takes values the stack would never write. Each finding names the error a user meets if it
stays unfixed, and the fix. Everything here only reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol, get_args
from urllib.parse import quote, urlencode, urlsplit

from mobile_sso import outputs as keys
from mobile_sso.config import (
    ENTRA_EMAIL_CLAIM,
    ENTRA_GROUPS_CLAIM,
    ENTRA_OVERAGE_CLAIM,
    GROUP_MEMBERSHIP_CLAIMS,
    GROUPS_ATTRIBUTE,
    OVERAGE_ATTRIBUTE,
    AppClient,
    EntraTenant,
    EnvironmentConfig,
    GroupsSettings,
    OAuthFlow,
)
from mobile_sso.entra_graph import (
    Assignment,
    EntraApplication,
    EntraReadError,
    EntraServicePrincipal,
    GraphReader,
)
from mobile_sso.export import (
    COGNITO,
    AppClientOutputs,
    ExportError,
    StackOutputs,
    parse_client,
    parse_stack,
)
from mobile_sso.saml_check import (
    COGNITO_BAD_SIGNATURE,
    ENTRA_CLAIMS_PAGE,
    Metadata,
    Severity,
    UnreadableMetadata,
    normalize_domain,
    read_metadata,
    thumbprint,
)

# In the order findings are listed: the stack, then AWS from the pool outwards, then Entra.
Category = Literal[
    "outputs",
    "pool",
    "domain",
    "client",
    "identity_pool",
    "idp",
    "claims",
    "metadata",
    "federation",
    "entra_app",
    "assignment",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)

# What users meet. Entra's messages are quoted as Entra words them; Cognito's where known.
BAD_SIGNATURE = f"Cognito: '{COGNITO_BAD_SIGNATURE}'"
BAD_RELAY_STATE = "Cognito: 'Invalid samlResponse or relayState from identity provider'"
REDIRECT_MISMATCH = "Cognito's error page (/error?error=redirect_mismatch) instead of sign-in"
UNAUTHORIZED_CLIENT = "Cognito answers error=unauthorized_client instead of the sign-in page"
INVALID_SCOPE = "Cognito answers error=invalid_scope instead of the sign-in page"
NO_GROUPS_CLAIM = "ID and access tokens without a groups claim"
OVERAGE_UNSEEN = (
    "users in more than 150 groups get tokens without groups and without groups_overage, so "
    "the app cannot tell that it must read their groups from Microsoft Graph"
)
MAX_USERS_CHECKED = 50
MAX_GROUPS_CHECKED = 20
# https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/assign-user-or-group-access-portal
GROUP_ASSIGNMENT_LIMITS = (
    "assigning groups needs Microsoft Entra ID P1 or P2, and only the groups' direct "
    "members are assigned (members of nested groups are not)"
)
ENTRA_USERS_PAGE = "Entra admin center > Enterprise applications > <app> > Users and groups"


def missing_attribute(attribute: str) -> str:
    return (
        f"Cognito: 'Invalid SAML response received: Invalid user attributes: {attribute}: "
        "The attribute is required'"
    )


def aadsts50011(reply_url: str, app_id: str) -> str:
    return (
        f"Entra: 'AADSTS50011: The redirect URI '{reply_url}' specified in the request does "
        f"not match the redirect URIs configured for the application '{app_id}'.'"
    )


def aadsts700016(identifier: str, tenant_id: str) -> str:
    return (
        f"Entra: 'AADSTS700016: Application with identifier '{identifier}' was not found in "
        f"the directory '{tenant_id}'.'"
    )


def aadsts50105(app: str) -> str:
    return (
        f"Entra: 'AADSTS50105: Your administrator has configured the application {app} to "
        "block users unless they are specifically granted ('assigned') access to the "
        "application.'"
    )


@dataclass(frozen=True)
class Finding:
    """Something wrong with the deployment (error) or a risk worth fixing (warning).

    `user_error` is what a user meets while it stays so ("" for a risk no user sees).
    """

    category: Category
    severity: Severity
    message: str
    fix: str
    user_error: str = ""

    @property
    def full_message(self) -> str:
        if not self.user_error:
            return self.message
        return f"{self.message}. Users get: {self.user_error}"

    def as_dict(self) -> dict[str, str]:
        """The shape `check-response --json` uses for its findings."""
        return {
            "category": self.category,
            "severity": self.severity,
            "message": self.full_message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class SignInUrl:
    """A hosted-UI URL that goes straight to one IdP for one client: a quick manual test."""

    client: str
    identity_provider: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"client": self.client, "identity_provider": self.identity_provider, "url": self.url}


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    sign_in_urls: tuple[SignInUrl, ...] = ()
    # What the checks could not see, and who is assigned: for people, not for verdicts.
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        """True when no finding is an error (warnings are risks, not breakage)."""
        return not any(f.severity == "error" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "findings": [f.as_dict() for f in self.findings],
            "sign_in_urls": [u.as_dict() for u in self.sign_in_urls],
        }


# --- ports -------------------------------------------------------------------------------


class CognitoClient(Protocol):
    """The part of boto3's cognito-idp client the doctor uses: describe calls only."""

    def describe_user_pool(self, *, UserPoolId: str) -> Mapping[str, Any]: ...

    def describe_user_pool_domain(self, *, Domain: str) -> Mapping[str, Any]: ...

    def describe_user_pool_client(self, *, UserPoolId: str, ClientId: str) -> Mapping[str, Any]: ...

    def describe_identity_provider(
        self, *, UserPoolId: str, ProviderName: str
    ) -> Mapping[str, Any]: ...

    def describe_managed_login_branding_by_client(
        self, *, UserPoolId: str, ClientId: str
    ) -> Mapping[str, Any]: ...


class IdentityClient(Protocol):
    """The part of boto3's cognito-identity client the doctor uses, with an identity pool."""

    def describe_identity_pool(self, *, IdentityPoolId: str) -> Mapping[str, Any]: ...

    def get_identity_pool_roles(self, *, IdentityPoolId: str) -> Mapping[str, Any]: ...


class IamClient(Protocol):
    """The part of boto3's iam client the doctor uses, for tenants signed in with federation."""

    def get_outbound_web_identity_federation_info(self) -> Mapping[str, Any]: ...


MetadataFetcher = Callable[[str], bytes | UnreadableMetadata]
# Opens a Graph reader for one tenant; raises EntraReadError when it cannot.
EntraOpener = Callable[[EntraTenant], AbstractContextManager[GraphReader]]


class AwsReadError(Exception):
    """A describe call failed for another reason than "not found"."""

    def __init__(self, category: Category, message: str) -> None:
        super().__init__(message)
        self.category = category


def _describe(
    category: Category, what: str, call: Callable[[], Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The answer of a describe call, None when the thing does not exist."""
    from botocore import exceptions  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        return call()
    except exceptions.ClientError as error:
        details = error.response.get("Error", {})
        if details.get("Code") == "ResourceNotFoundException":
            return None
        raise AwsReadError(
            category, f"Cognito {what} failed: {details.get('Code')}: {details.get('Message')}"
        ) from None
    except exceptions.BotoCoreError as error:
        raise AwsReadError(category, f"Cognito {what} failed: {error}") from None


_AWS_ACCESS_FIX = (
    "Sign in to the stack's AWS account with permission for cognito-idp:DescribeUserPool, "
    "DescribeUserPoolDomain, DescribeUserPoolClient and DescribeIdentityProvider, then run "
    "the doctor again."
)


# --- the run -----------------------------------------------------------------------------


@dataclass
class _Run:
    env: str
    config: EnvironmentConfig
    outputs: Mapping[str, str]
    cognito: CognitoClient
    fetch: MetadataFetcher
    entra: EntraOpener | None
    now: dt.datetime
    iam: IamClient | None = None
    identity: IdentityClient | None = None
    # The account's web identity token issuer, once read (federated tenants only).
    token_issuer: str | None = None
    # Whether the domain serves managed login (version 2), as read (else as configured).
    managed_login: bool = False
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Each tenant's Graph reader, opened once per run (one sign-in), None when it could not
    # be; closed when the run ends.
    readers: dict[str, GraphReader | None] = field(default_factory=dict)
    closing: ExitStack = field(default_factory=ExitStack)

    def entra_reader(self, tenant: EntraTenant, category: Category) -> GraphReader | None:
        """The tenant's Graph reader; None when Entra is not read, or when the reader cannot
        be opened, which the first caller reports as a finding of `category`."""
        if self.entra is None:
            return None
        if tenant.idp_name not in self.readers:
            try:
                reader = self.closing.enter_context(self.entra(tenant))
            except EntraReadError as error:
                reader = None
                self.entra_unreadable(tenant, error, category)
            self.readers[tenant.idp_name] = reader
        return self.readers[tenant.idp_name]

    def entra_unreadable(
        self, tenant: EntraTenant, error: EntraReadError, category: Category
    ) -> None:
        self.error(
            category,
            f"tenant {tenant.tenant_id} ({tenant.idp_name}) could not be read: {error.message}",
            error.fix,
        )

    def add(
        self,
        category: Category,
        severity: Severity,
        message: str,
        fix: str,
        user_error: str = "",
    ) -> None:
        self.findings.append(Finding(category, severity, message, fix, user_error))

    def error(self, category: Category, message: str, fix: str, user_error: str = "") -> None:
        self.add(category, "error", message, fix, user_error)

    def warn(self, category: Category, message: str, fix: str, user_error: str = "") -> None:
        self.add(category, "warning", message, fix, user_error)

    @property
    def deploy(self) -> str:
        return (
            f"Deploy the environment (make deploy ENV={self.env}) so the stack matches the config"
        )

    @property
    def deploy_lc(self) -> str:
        return self.deploy[:1].lower() + self.deploy[1:]

    @property
    def expected_host(self) -> str:
        domain = self.config.domain
        if domain.custom is not None:
            return domain.custom.domain_name
        return f"{domain.prefix}.auth.{self.config.region}.amazoncognito.com"

    @property
    def reply_url(self) -> str:
        return f"https://{self.expected_host}/saml2/idpresponse"

    @property
    def logout_url(self) -> str:
        return f"https://{self.expected_host}/saml2/logout"


def diagnose(
    env: str,
    config: EnvironmentConfig,
    outputs: Mapping[str, str],
    *,
    cognito: CognitoClient,
    fetch: MetadataFetcher,
    entra: EntraOpener | None,
    now: dt.datetime,
    client: str | None = None,
    iam: IamClient | None = None,
    identity: IdentityClient | None = None,
    outputs_error: str | None = None,
) -> Diagnosis:
    """Check the deployment of environment `env` (its `config`, its stack's `outputs`).

    `entra` None skips the Entra side (the metadata is still fetched and checked);
    `client` limits the sign-in URLs to one app client; `iam` reads the account's
    outbound identity federation, for tenants that sign in with `federation` (None skips it);
    `identity` reads the identity pool, when the config has one (None skips it).
    `outputs_error` says why there are no outputs: only what needs none is checked then
    (the handler's federated sign-in, which a first deploy that rolled back may lack).
    """
    run = _Run(env, config, outputs, cognito, fetch, entra, now, iam, identity)
    with run.closing:
        return _diagnose(run, outputs_error, client)


def _diagnose(run: _Run, outputs_error: str | None, client: str | None) -> Diagnosis:
    if outputs_error is None:
        stack = _check_outputs(run)
    else:
        stack = None
        run.error(
            "outputs",
            f"the stack's outputs could not be read: {outputs_error}",
            f"Deploy the environment (make deploy ENV={run.env}), sign in to its AWS account, or "
            "pass the outputs file with --outputs-file",
        )
    _check_federation(run)
    urls: list[SignInUrl] = []
    if stack is not None:
        deployed = _client_outputs(run, stack)
        try:
            _check_aws_and_entra(run, stack, deployed)
        except AwsReadError as error:
            run.error(error.category, f"{error} (the checks stopped here)", _AWS_ACCESS_FIX)
        urls = _sign_in_urls(run.config, stack, deployed, client)
    order = {category: index for index, category in enumerate(CATEGORIES)}
    run.findings.sort(key=lambda f: (order[f.category], f.severity != "error"))
    return Diagnosis(tuple(run.findings), tuple(urls), tuple(run.notes))


def _check_aws_and_entra(
    run: _Run, stack: StackOutputs, deployed: Mapping[str, AppClientOutputs]
) -> None:
    pool_id = stack.user_pool_id
    pool = _describe(
        "pool", "DescribeUserPool", partial(run.cognito.describe_user_pool, UserPoolId=pool_id)
    )
    if pool is None:
        run.error(
            "pool",
            f"user pool {pool_id} (output {keys.USER_POOL_ID}) does not exist in "
            f"{run.config.region}: the outputs are stale, or AWS credentials are for another "
            "account",
            f"Refresh the outputs: {run.deploy_lc} (it rewrites cdk-outputs-{run.env}.json); "
            "or sign in to the stack's AWS account",
            "every sign-in fails: the app's client id and domain point at a pool that is gone",
        )
        return
    _check_pool(run, pool["UserPool"])
    if run.config.groups is not None:
        _check_pool_groups(run, pool["UserPool"])
    elif run.config.tenant_email_domains():
        _check_pool_isolation(run, pool["UserPool"])
    _check_domain(run, pool_id)
    providers: dict[str, Mapping[str, Any]] = {}
    for tenant in run.config.entra:
        described = _describe(
            "idp",
            "DescribeIdentityProvider",
            partial(
                run.cognito.describe_identity_provider,
                UserPoolId=pool_id,
                ProviderName=tenant.idp_name,
            ),
        )
        if described is None:
            run.error(
                "idp",
                f"the pool has no identity provider {tenant.idp_name!r}",
                run.deploy + "; the stack creates the provider from the Entra app's metadata URL",
                f"Cognito cannot send users to Entra: identity_provider={tenant.idp_name} "
                "ends on Cognito's error page",
            )
            continue
        providers[tenant.idp_name] = described["IdentityProvider"]
        _check_identity_provider(run, tenant, described["IdentityProvider"])
        _check_attribute_mapping(run, tenant, described["IdentityProvider"], pool["UserPool"])
        if run.config.groups is not None:
            _check_groups_mapping(run, tenant, described["IdentityProvider"])
    for app_client in run.config.clients:
        if app_client.name in deployed:
            _check_client(run, pool_id, app_client, deployed[app_client.name], providers)
    if run.identity is not None:
        _check_identity_pool(run, run.identity, pool_id, deployed)
    for tenant in run.config.entra:
        _check_tenant(run, tenant, pool_id, providers.get(tenant.idp_name))


# --- outputs -----------------------------------------------------------------------------


def _check_outputs(run: _Run) -> StackOutputs | None:
    try:
        stack = parse_stack(run.outputs)
    except ExportError as error:
        run.error(
            "outputs",
            f"{error}",
            run.deploy + " to the end; with --outputs-file, pass the file that deploy wrote",
            "nothing can be checked, and mobile builds made from these outputs lack settings",
        )
        return None
    if normalize_domain(stack.cognito_domain) != run.expected_host:
        run.error(
            "outputs",
            f"output {keys.COGNITO_DOMAIN} is {stack.cognito_domain}, but the config's domain "
            f"is {run.expected_host}",
            run.deploy + ", then export the mobile configs again",
            "apps built from these outputs open a sign-in host the config no longer has",
        )
    for name in stack.client_names:
        if name not in {c.name for c in run.config.clients}:
            run.warn(
                "outputs",
                f"the stack has app client {name!r}, which the config no longer lists",
                run.deploy + " (the client is removed), or add it back to the config",
            )
    for tenant in run.config.entra:
        fields = (keys.IDP_TENANT_ID, keys.IDP_ENTRA_APP_ID, keys.IDP_METADATA_URL)
        missing = [
            keys.idp_output_key(tenant.idp_name, f)
            for f in fields
            if not run.outputs.get(keys.idp_output_key(tenant.idp_name, f))
        ]
        if missing:
            run.error(
                "outputs",
                f"identity provider {tenant.idp_name!r} has no output(s) {', '.join(missing)}: "
                "the tenant is in the config but not deployed",
                run.deploy,
                f"identity_provider={tenant.idp_name} ends on Cognito's error page",
            )
            continue
        tenant_output = run.outputs[keys.idp_output_key(tenant.idp_name, keys.IDP_TENANT_ID)]
        if tenant_output.lower() != tenant.tenant_id.lower():
            run.error(
                "outputs",
                f"identity provider {tenant.idp_name!r} is deployed for tenant {tenant_output}, "
                f"but the config names tenant {tenant.tenant_id}",
                run.deploy + " (changing the tenant replaces the Entra application)",
                "users of the config's tenant cannot sign in",
            )
    return stack


def _client_outputs(run: _Run, stack: StackOutputs) -> dict[str, AppClientOutputs]:
    found: dict[str, AppClientOutputs] = {}
    for app_client in run.config.clients:
        if app_client.name not in stack.client_names:
            run.error(
                "outputs",
                f"app client {app_client.name!r} is in the config but not in the stack's "
                f"{keys.CLIENT_NAMES} output ({', '.join(stack.client_names)})",
                run.deploy,
                f"the {app_client.platform} app has no client id to sign in with",
            )
            continue
        try:
            found[app_client.name] = parse_client(run.outputs, app_client.name)
        except ExportError as error:
            run.error("outputs", str(error), run.deploy)
    return found


# --- pool and domain ---------------------------------------------------------------------


def _check_pool(run: _Run, pool: Mapping[str, Any]) -> None:
    name = pool.get("Name")
    if name != run.config.user_pool.name:
        run.warn(
            "pool",
            f"user pool {pool.get('Id')} is named {name!r}, not {run.config.user_pool.name!r} "
            "as the config says: are these the outputs of this environment?",
            "Check --env and --outputs-file; or deploy the config",
        )
    schema = {a.get("Name"): a for a in pool.get("SchemaAttributes") or []}
    email = schema.get("email")
    if email is None or not email.get("Required"):
        run.warn(
            "pool",
            f"user pool {pool.get('Id')} does not require the email attribute, which this "
            "stack's pools do (email is the sign-in identifier): is it this environment's pool?",
            "Required attributes cannot change after creation: check --env and the outputs, "
            "or deploy a new pool from the config (email required and mutable)",
        )
    elif email.get("Mutable") is False:
        run.error(
            "pool",
            f"user pool {pool.get('Id')} has an immutable email attribute",
            "Mutability cannot change after creation: deploy a new pool from the config "
            "(email required and mutable)",
            "a user's second sign-in fails: Cognito rewrites mapped attributes at every "
            "federated sign-in and cannot change an immutable one",
        )


def _check_pool_groups(run: _Run, pool: Mapping[str, Any]) -> None:
    """With groups on: the pool runs a V2_0 pre-token-generation trigger, on a feature plan
    that allows it, and has the attributes Entra's group claims are mapped to."""
    who = f"user pool {pool.get('Id')}"
    triggers = pool.get("LambdaConfig") or {}
    version = (triggers.get("PreTokenGenerationConfig") or {}).get("LambdaVersion")
    if version is None and not triggers.get("PreTokenGeneration"):
        run.error(
            "pool",
            f"{who} has no pre-token-generation trigger, which puts the groups into the tokens",
            run.deploy + " (it attaches the stack's groups function as a V2_0 trigger)",
            NO_GROUPS_CLAIM,
        )
    elif version != "V2_0":
        run.error(
            "pool",
            f"{who}'s pre-token-generation trigger gets {version or 'V1_0'} events, not V2_0: "
            "a V1_0 event cannot change access tokens, and the stack's groups function "
            "returns it unchanged",
            run.deploy + " (it sets the trigger's event version to V2_0)",
            NO_GROUPS_CLAIM,
        )
    tier = pool.get("UserPoolTier")
    if tier is not None and tier not in ("ESSENTIALS", "PLUS"):
        run.error(
            "pool",
            f"{who} is on the {tier} feature plan, which cannot run V2_0 pre-token-generation "
            "triggers",
            "Set the pool's feature plan to Essentials (or Plus): " + run.deploy_lc,
            NO_GROUPS_CLAIM,
        )
    attributes = {a.get("Name") for a in pool.get("SchemaAttributes") or []}
    missing = [
        f"custom:{name}"
        for name in (GROUPS_ATTRIBUTE, OVERAGE_ATTRIBUTE)
        if f"custom:{name}" not in attributes
    ]
    if missing:
        without_groups = f"custom:{GROUPS_ATTRIBUTE}" in missing
        run.add(
            "pool",
            "error" if without_groups else "warning",
            f"{who} lacks the custom attribute(s) {', '.join(missing)}, which Entra's group "
            "claims are mapped to",
            run.deploy + " (it adds them: a pool takes new custom attributes, never loses any)",
            NO_GROUPS_CLAIM if without_groups else OVERAGE_UNSEEN,
        )


def _check_pool_isolation(run: _Run, pool: Mapping[str, Any]) -> None:
    """With tenants held to their email domains (and no groups, whose check covers this): the
    pool runs a pre-token-generation trigger, which refuses the other tenants' emails."""
    triggers = pool.get("LambdaConfig") or {}
    if triggers.get("PreTokenGenerationConfig") or triggers.get("PreTokenGeneration"):
        return
    tenants = ", ".join(run.config.tenant_email_domains())
    run.error(
        "pool",
        f"user pool {pool.get('Id')} has no pre-token-generation trigger, which holds "
        f"the tenant(s) {tenants} to their email_domains",
        run.deploy + " (it attaches the stack's tenant isolation function)",
        "a tenant's administrator can sign in any email address, another tenant's included, "
        "and apps that find users by email hand them that account",
    )


def _check_domain(run: _Run, pool_id: str) -> None:
    custom = run.config.domain.custom
    name = custom.domain_name if custom is not None else (run.config.domain.prefix or "")
    described = _describe(
        "domain",
        "DescribeUserPoolDomain",
        partial(run.cognito.describe_user_pool_domain, Domain=name),
    )
    description = (described or {}).get("DomainDescription") or {}
    unreachable = f"the app's sign-in page does not load: https://{run.expected_host} has no site"
    if not description:
        run.error(
            "domain",
            f"the hosted-UI domain {name} does not exist",
            run.deploy,
            unreachable,
        )
        return
    owner = description.get("UserPoolId")
    if owner != pool_id:
        run.error(
            "domain",
            f"the hosted-UI domain {name} belongs to user pool {owner}, not {pool_id}",
            f"A domain serves one pool: {run.deploy_lc}, or free the domain from the other pool",
            "sign-in opens the other pool's hosted UI, which does not know this app's client",
        )
        return
    _check_login_version(run, name, description.get("ManagedLoginVersion"))
    status = description.get("Status")
    if status in ("FAILED", "DELETING"):
        run.error(
            "domain",
            f"the hosted-UI domain {name} is {status}",
            "For a custom domain, check its ACM certificate (us-east-1, issued) and that the "
            "parent domain resolves; then " + run.deploy_lc,
            unreachable,
        )
    elif status not in (None, "ACTIVE"):
        run.warn(
            "domain",
            f"the hosted-UI domain {name} is {status}, not ACTIVE yet",
            "Wait: a new domain takes up to an hour (a custom domain's CloudFront "
            "distribution longer); run the doctor again",
            unreachable + " until it is ACTIVE",
        )


def _check_login_version(run: _Run, name: str, version: int | None) -> None:
    wanted = run.config.domain.managed_login_version
    run.managed_login = (version or wanted) == 2
    if version is not None and version != wanted:
        run.warn(
            "domain",
            f"the hosted-UI domain {name} serves managed login version {version}; the config "
            f"says {wanted} (domain.managed_login_version)",
            run.deploy,
        )


# --- the identity pool ----------------------------------------------------------------


def _check_identity_pool(
    run: _Run,
    identity: IdentityClient,
    pool_id: str,
    deployed: Mapping[str, AppClientOutputs],
) -> None:
    """The identity pool trusts every app client's ID tokens and gives signed-in users the
    authenticated role (through the config's rules, when it has some); no guests."""
    settings = run.config.identity_pool
    if settings is None:
        return
    identity_pool_id = run.outputs.get(keys.IDENTITY_POOL_ID)
    if not identity_pool_id:
        run.error(
            "identity_pool",
            f"the outputs have no {keys.IDENTITY_POOL_ID}, though the config has identity_pool",
            run.deploy,
            "the app has no identity pool to get AWS credentials from",
        )
        return
    try:
        described = _describe(
            "identity_pool",
            "DescribeIdentityPool",
            partial(identity.describe_identity_pool, IdentityPoolId=identity_pool_id),
        )
        roles = _describe(
            "identity_pool",
            "GetIdentityPoolRoles",
            partial(identity.get_identity_pool_roles, IdentityPoolId=identity_pool_id),
        )
    except AwsReadError as error:
        run.warn(
            "identity_pool",
            f"identity pool {identity_pool_id} could not be read ({error})",
            "Run the doctor with permission for cognito-identity:DescribeIdentityPool and "
            "GetIdentityPoolRoles",
        )
        return
    if described is None or roles is None:
        run.error(
            "identity_pool",
            f"identity pool {identity_pool_id} (output {keys.IDENTITY_POOL_ID}) does not exist "
            f"in {run.config.region}",
            run.deploy + ", then export the mobile configs again",
            "the app's GetId call fails with ResourceNotFoundException",
        )
        return
    what = f"identity pool {identity_pool_id}"
    provider = f"cognito-idp.{run.config.region}.amazonaws.com/{pool_id}"
    trusted = {
        str(p.get("ClientId"))
        for p in described.get("CognitoIdentityProviders") or []
        if p.get("ProviderName") == provider
    }
    for name, outputs in deployed.items():
        if outputs.client_id not in trusted:
            run.error(
                "identity_pool",
                f"{what} does not accept ID tokens of app client {name!r} "
                f"({outputs.client_id}) from {provider}",
                run.deploy,
                "the app's GetId call refuses its ID token (NotAuthorizedException)",
            )
    if described.get("AllowUnauthenticatedIdentities"):
        run.warn(
            "identity_pool",
            f"{what} allows unauthenticated identities; the stack never does",
            run.deploy,
        )
    if not (roles.get("Roles") or {}).get("authenticated"):
        run.error(
            "identity_pool",
            f"{what} has no authenticated role",
            run.deploy,
            "signed-in users get no AWS credentials: GetCredentialsForIdentity fails",
        )
    if settings.role_rules:
        mappings = roles.get("RoleMappings") or {}
        for name, outputs in deployed.items():
            mapping = mappings.get(f"{provider}:{outputs.client_id}") or {}
            if mapping.get("Type") != "Rules":
                run.warn(
                    "identity_pool",
                    f"{what} applies no role rules to app client {name!r}; the config has "
                    "identity_pool.role_rules",
                    run.deploy,
                    "users of this client get the authenticated role, whatever their groups",
                )


# --- identity providers and claims -------------------------------------------------------


def _flag(details: Mapping[str, Any], key: str) -> bool:
    return str(details.get(key, "false")).lower() == "true"


def _check_identity_provider(run: _Run, tenant: EntraTenant, idp: Mapping[str, Any]) -> None:
    name = tenant.idp_name
    if idp.get("ProviderType") != "SAML":
        run.error(
            "idp",
            f"identity provider {name!r} is of type {idp.get('ProviderType')}, not SAML",
            "Delete it and " + run.deploy_lc,
            f"sign-in through {name} never reaches Entra's SAML endpoint",
        )
        return
    details = idp.get("ProviderDetails") or {}
    metadata_url = details.get("MetadataURL")
    expected_url = run.outputs.get(keys.idp_output_key(name, keys.IDP_METADATA_URL))
    if not metadata_url:
        severity: Severity = "warning" if details.get("MetadataFile") else "error"
        run.add(
            "idp",
            severity,
            f"identity provider {name!r} has no metadata URL"
            + (" (it holds an uploaded metadata file)" if details.get("MetadataFile") else ""),
            f"Set its metadata URL to the output {keys.idp_output_key(name, keys.IDP_METADATA_URL)}"
            " (Cognito re-reads a URL by itself, so certificate rollover needs no redeploy)",
            f"once Entra's signing certificate rolls over, {BAD_SIGNATURE}",
        )
    elif expected_url and metadata_url != expected_url:
        run.error(
            "idp",
            f"identity provider {name!r} reads metadata from {metadata_url}, not from the "
            f"stack's Entra application ({expected_url})",
            f"Set the provider's metadata URL to {expected_url} ({run.deploy_lc})",
            BAD_SIGNATURE,
        )
    if _flag(details, "IDPInit") != tenant.idp_initiated:
        if tenant.idp_initiated:
            run.error(
                "idp",
                f"identity provider {name!r} has IdP-initiated sign-in off, but the config "
                "turns it on (entra[].idp_initiated)",
                run.deploy,
                f"sign-in started from Entra's My Apps: {BAD_RELAY_STATE}",
            )
        else:
            run.warn(
                "idp",
                f"identity provider {name!r} accepts IdP-initiated sign-in (IDPInit), which "
                "the config leaves off: Cognito cannot tie such responses to a request",
                run.deploy + " (turns it off), or set entra[].idp_initiated: true",
            )
    if _flag(details, "IDPSignout") != tenant.idp_signout:
        run.warn(
            "idp",
            f"identity provider {name!r} has SAML sign-out (IDPSignout) "
            f"{'on' if _flag(details, 'IDPSignout') else 'off'}, the config "
            f"{'on' if tenant.idp_signout else 'off'}",
            run.deploy,
        )
    signs = bool(details.get("RequestSigningAlgorithm"))
    if signs != tenant.sign_requests:
        run.warn(
            "idp",
            f"identity provider {name!r} {'signs' if signs else 'does not sign'} its SAML "
            f"requests; the config says entra[].sign_requests: {str(tenant.sign_requests).lower()}",
            run.deploy,
        )
    identifiers = sorted(idp.get("IdpIdentifiers") or [])
    if identifiers != sorted(tenant.email_domains):
        run.warn(
            "idp",
            f"identity provider {name!r} routes the email domains {identifiers or 'none'}; "
            f"the config lists {sorted(tenant.email_domains) or 'none'}",
            run.deploy,
            "the hosted UI sends users typing their email to the wrong tenant, or to none",
        )


def _check_attribute_mapping(
    run: _Run, tenant: EntraTenant, idp: Mapping[str, Any], pool: Mapping[str, Any]
) -> None:
    name = tenant.idp_name
    mapping: Mapping[str, str] = idp.get("AttributeMapping") or {}
    # The config's attribute_mapping keys are Cognito's attribute names.
    wanted: dict[str, str] = {
        attribute: claim
        for attribute, claim in tenant.attribute_mapping.model_dump().items()
        if claim
    }
    required = [
        str(a.get("Name"))
        for a in pool.get("SchemaAttributes") or []
        if a.get("Required") and a.get("Name") not in ("sub", "identities")
    ]
    for attribute in required:
        if attribute not in mapping:
            claim = wanted.get(attribute, "<the claim>")
            run.error(
                "claims",
                f"identity provider {name!r} maps no SAML claim to the pool's required "
                f"attribute {attribute}",
                f"Map {claim} to {attribute} (entra[].attribute_mapping) and deploy",
                missing_attribute(attribute),
            )
    for attribute, claim in wanted.items():
        actual = mapping.get(attribute)
        if actual is None or actual == claim:
            continue
        required_attribute = attribute in required
        run.add(
            "claims",
            "error" if required_attribute else "warning",
            f"identity provider {name!r} fills {attribute} from the claim {actual}; the config "
            f"maps {claim}",
            run.deploy + f", or set entra[].attribute_mapping.{attribute} to the claim Entra sends",
            missing_attribute(attribute) + " (when Entra sends no such claim)"
            if required_attribute
            else "",
        )
    for attribute, claim in wanted.items():
        if attribute not in mapping and attribute not in required:
            run.warn(
                "claims",
                f"identity provider {name!r} does not map {claim} to {attribute}, which the "
                "config maps",
                run.deploy,
            )


def _check_groups_mapping(run: _Run, tenant: EntraTenant, idp: Mapping[str, Any]) -> None:
    """With groups on: the provider maps Entra's group claims to the pool's attributes."""
    mapping: Mapping[str, str] = idp.get("AttributeMapping") or {}
    wanted: tuple[tuple[str, str, Severity, str], ...] = (
        (f"custom:{GROUPS_ATTRIBUTE}", ENTRA_GROUPS_CLAIM, "error", NO_GROUPS_CLAIM),
        (f"custom:{OVERAGE_ATTRIBUTE}", ENTRA_OVERAGE_CLAIM, "warning", OVERAGE_UNSEEN),
    )
    for attribute, claim, severity, user_error in wanted:
        actual = mapping.get(attribute)
        if actual == claim:
            continue
        found = (
            f"fills {attribute} from the claim {actual}"
            if actual
            else f"maps no claim to {attribute}"
        )
        run.add(
            "claims",
            severity,
            f"identity provider {tenant.idp_name!r} {found}; Entra sends it as {claim}",
            run.deploy,
            user_error,
        )


# --- app clients -------------------------------------------------------------------------


def _check_client(
    run: _Run,
    pool_id: str,
    app_client: AppClient,
    deployed: AppClientOutputs,
    providers: Mapping[str, Mapping[str, Any]],
) -> None:
    described = _describe(
        "client",
        "DescribeUserPoolClient",
        partial(
            run.cognito.describe_user_pool_client, UserPoolId=pool_id, ClientId=deployed.client_id
        ),
    )
    who = f"app client {app_client.name!r} ({deployed.client_id})"
    if described is None:
        run.error(
            "client",
            f"{who} does not exist in user pool {pool_id}",
            run.deploy + ", then export the mobile configs again",
            "the app's sign-in ends on Cognito's error page (unknown client_id)",
        )
        return
    live = described["UserPoolClient"]
    _compare_urls(
        run,
        who=who,
        what="callback URL",
        live=live.get("CallbackURLs") or [],
        wanted=app_client.callback_urls,
        user_error=REDIRECT_MISMATCH,
    )
    _compare_urls(
        run,
        who=who,
        what="sign-out URL",
        live=live.get("LogoutURLs") or [],
        wanted=app_client.sign_out_urls,
        user_error="sign-out ends on Cognito's error page instead of returning to the app",
    )
    _check_client_oauth(run, who, app_client, live)
    _check_client_providers(run, who, app_client, live, pool_id=pool_id, providers=providers)
    if live.get("ClientSecret") and not app_client.generate_secret:
        run.error(
            "client",
            f"{who} has a client secret, which the config does not ask for (generate_secret)",
            "Mobile apps are public clients and send no secret: "
            + run.deploy_lc
            + " (a secret cannot be removed: the client is replaced)",
            "the app's code exchange at /oauth2/token fails with invalid_client",
        )
    if run.managed_login:
        _check_branding(run, pool_id, who, deployed.client_id)


def _check_branding(run: _Run, pool_id: str, who: str, client_id: str) -> None:
    """Managed login (version 2) needs a branding style per client."""
    read = partial(
        run.cognito.describe_managed_login_branding_by_client,
        UserPoolId=pool_id,
        ClientId=client_id,
    )
    try:
        branding = _describe("client", "DescribeManagedLoginBrandingByClient", read)
    except AwsReadError as error:
        run.warn(
            "client",
            f"{who}: its managed login branding could not be read ({error})",
            "Run the doctor with permission for cognito-idp:DescribeManagedLoginBrandingByClient",
        )
        return
    if branding is None:
        run.error(
            "client",
            f"{who} has no managed login branding style, which managed login (version 2) needs",
            run.deploy + " (with domain.managed_login_version 2 it gives every client Cognito's "
            "default style)",
            "managed login shows an error page instead of this client's sign-in page",
        )


def _check_client_oauth(
    run: _Run, who: str, app_client: AppClient, live: Mapping[str, Any]
) -> None:
    if not live.get("AllowedOAuthFlowsUserPoolClient"):
        run.error(
            "client",
            f"{who} has OAuth turned off (AllowedOAuthFlowsUserPoolClient is false)",
            run.deploy,
            UNAUTHORIZED_CLIENT,
        )
    flows = set(live.get("AllowedOAuthFlows") or [])
    wanted_flows = {
        "code" if flow is OAuthFlow.AUTHORIZATION_CODE else "implicit"
        for flow in app_client.oauth_flows
    }
    for flow in sorted(wanted_flows - flows):
        run.error(
            "client",
            f"{who} does not allow the OAuth flow {flow!r} the config lists",
            run.deploy,
            UNAUTHORIZED_CLIENT,
        )
    for flow in sorted(flows - wanted_flows):
        run.warn(
            "client",
            f"{who} also allows the OAuth flow {flow!r}, which the config does not list",
            run.deploy + " (mobile apps need only the code grant with PKCE)",
        )
    scopes = set(live.get("AllowedOAuthScopes") or [])
    missing_scopes = sorted(set(app_client.scopes) - scopes)
    if missing_scopes:
        run.error(
            "client",
            f"{who} does not allow the scope(s) {missing_scopes} the config lists (and the "
            "app requests)",
            run.deploy,
            INVALID_SCOPE,
        )
    extra_scopes = sorted(scopes - set(app_client.scopes))
    if extra_scopes:
        run.warn(
            "client",
            f"{who} also allows the scope(s) {extra_scopes}, which the config does not list",
            run.deploy,
        )


def _check_client_providers(
    run: _Run,
    who: str,
    app_client: AppClient,
    live: Mapping[str, Any],
    *,
    pool_id: str,
    providers: Mapping[str, Mapping[str, Any]],
) -> None:
    offered = list(live.get("SupportedIdentityProviders") or [])
    wanted = list(run.config.client_idp_names(app_client))
    if app_client.allow_cognito_users:
        wanted.append(COGNITO)
    for idp in wanted:
        if idp not in offered:
            run.error(
                "client",
                f"{who} does not offer the identity provider {idp!r} (it offers "
                f"{offered or 'none'})",
                run.deploy + f", or add {idp} to the client's identity providers",
                f"signing in with identity_provider={idp} ends on Cognito's error page "
                "instead of Microsoft's sign-in",
            )
    for idp in offered:
        if idp in wanted:
            continue
        known = idp == COGNITO or idp in providers
        if not known:
            describe = partial(
                run.cognito.describe_identity_provider, UserPoolId=pool_id, ProviderName=idp
            )
            known = _describe("client", "DescribeIdentityProvider", describe) is not None
        if known:
            run.warn(
                "client",
                f"{who} also offers the identity provider {idp!r}, which the config does not "
                "list for it",
                run.deploy,
            )
        else:
            run.error(
                "client",
                f"{who} offers the identity provider {idp!r}, which the pool does not have",
                run.deploy,
                f"the hosted UI's {idp} button ends on Cognito's error page",
            )


def _compare_urls(
    run: _Run,
    *,
    who: str,
    what: str,
    live: Sequence[str],
    wanted: Sequence[str],
    user_error: str,
) -> None:
    missing = [url for url in wanted if url not in live]
    if missing:
        run.error(
            "client",
            f"{who} lacks the {what}(s) {missing} the config lists (it has {list(live) or 'none'})",
            run.deploy + ", or make the config list the URLs the app uses",
            user_error,
        )
    extra = [url for url in live if url not in wanted]
    if extra:
        run.warn(
            "client",
            f"{who} also accepts the {what}(s) {extra}, which the config does not list",
            run.deploy + " (every accepted URL is a place Cognito sends codes to)",
        )


# --- Entra and metadata ------------------------------------------------------------------


def _check_tenant(
    run: _Run, tenant: EntraTenant, pool_id: str, idp: Mapping[str, Any] | None
) -> None:
    app_id = run.outputs.get(keys.idp_output_key(tenant.idp_name, keys.IDP_ENTRA_APP_ID), "")
    output_url = run.outputs.get(keys.idp_output_key(tenant.idp_name, keys.IDP_METADATA_URL), "")
    details = (idp or {}).get("ProviderDetails") or {}
    metadata_url = details.get("MetadataURL") or output_url
    active: str | None = None
    if app_id:
        active = _check_entra(run, tenant, pool_id, app_id)
    if metadata_url:
        _check_metadata(run, tenant, metadata_url, active)


def _check_entra(run: _Run, tenant: EntraTenant, pool_id: str, app_id: str) -> str | None:
    """The Entra side of one tenant; returns the active signing certificate's thumbprint."""
    reader = run.entra_reader(tenant, "entra_app")
    if reader is None:
        return None
    try:
        return _check_entra_app(run, tenant, reader, pool_id, app_id)
    except EntraReadError as error:
        run.entra_unreadable(tenant, error, "entra_app")
        return None


def _check_entra_app(
    run: _Run, tenant: EntraTenant, reader: GraphReader, pool_id: str, app_id: str
) -> str | None:
    entity_id = f"urn:amazon:cognito:sp:{pool_id}"
    app = reader.application(app_id)
    if app is None:
        run.error(
            "entra_app",
            f"tenant {tenant.tenant_id} has no application with app id {app_id} "
            f"(output {keys.idp_output_key(tenant.idp_name, keys.IDP_ENTRA_APP_ID)}): it was "
            "deleted, or the outputs belong to another tenant",
            run.deploy + " (the stack makes the application again)",
            aadsts700016(entity_id, tenant.tenant_id),
        )
        return None
    _check_application(run, tenant, app, entity_id)
    if run.config.groups is not None:
        _check_group_claims(run, app, run.config.groups)
    sp = reader.service_principal(app_id)
    if sp is None:
        run.error(
            "entra_app",
            f"application {app.display_name!r} ({app_id}) has no service principal "
            "(enterprise application) in the tenant",
            run.deploy + ", or delete the application and deploy (the stack instantiates it)",
            aadsts700016(entity_id, tenant.tenant_id),
        )
        return None
    _check_service_principal(run, app, sp)
    _check_assignments(run, tenant, app, sp, reader)
    return sp.active_thumbprint


def _check_application(
    run: _Run, tenant: EntraTenant, app: EntraApplication, entity_id: str
) -> None:
    basic = f"{ENTRA_CLAIMS_PAGE} > Basic SAML Configuration"
    what = f"Entra application {app.display_name!r} ({app.app_id})"
    if entity_id not in app.identifier_uris:
        run.error(
            "entra_app",
            f"{what} has the identifier(s) {list(app.identifier_uris) or 'none'}, not Cognito's "
            f"{entity_id}",
            f"{basic} > Identifier (Entity ID): {entity_id} (the SamlEntityId output); or "
            + run.deploy_lc,
            aadsts700016(entity_id, tenant.tenant_id),
        )
    if not any(_same_url(url, run.reply_url) for url in app.redirect_uris):
        run.error(
            "entra_app",
            f"{what} has the reply URL(s) {list(app.redirect_uris) or 'none'}, not Cognito's "
            f"{run.reply_url}",
            f"{basic} > Reply URL: {run.reply_url} (the SamlReplyUrl output); or " + run.deploy_lc,
            aadsts50011(run.reply_url, app.app_id),
        )
    if tenant.idp_signout and not _same_url(app.logout_url or "", run.logout_url):
        run.warn(
            "entra_app",
            f"{what} has the logout URL {app.logout_url or 'none'}, not Cognito's {run.logout_url}",
            f"{basic} > Logout Url: {run.logout_url} (the SamlSignOutUrl output)",
            "SAML sign-out does not return to Cognito",
        )


def _check_group_claims(run: _Run, app: EntraApplication, groups: GroupsSettings) -> None:
    """Entra sends the groups that the config's groups.source names (groupMembershipClaims)."""
    wanted = GROUP_MEMBERSHIP_CLAIMS[groups.source]
    actual = app.group_membership_claims

    def canonical(value: str | None) -> str:
        return (value or "None").replace(" ", "").casefold()

    if canonical(actual) == canonical(wanted):
        return
    what = f"Entra application {app.display_name!r} ({app.app_id})"
    fix = run.deploy + f" (it sets groupMembershipClaims to {wanted})"
    if canonical(actual) == canonical(None):
        run.error(
            "entra_app",
            f"{what} has groupMembershipClaims {actual or 'null'}: Entra sends no groups claim",
            fix,
            NO_GROUPS_CLAIM,
        )
    else:
        run.error(
            "entra_app",
            f"{what} has groupMembershipClaims {actual}, not {wanted} (the config's "
            f"groups.source: {groups.source})",
            fix,
            "tokens carry other groups than the config's groups.source names",
        )


def _check_service_principal(run: _Run, app: EntraApplication, sp: EntraServicePrincipal) -> None:
    what = f"enterprise application {sp.display_name!r} ({app.app_id})"
    if not sp.enabled:
        run.error(
            "entra_app",
            f"{what} is disabled (accountEnabled false)",
            "Entra admin center > Enterprise applications > <app> > Properties > Enabled for "
            "users to sign in: Yes",
            f"Entra: 'AADSTS7000112: Application '{app.app_id}'({sp.display_name}) is disabled.'",
        )
    if sp.sso_mode != "saml":
        run.error(
            "entra_app",
            f"{what} has single sign-on mode {sp.sso_mode or 'none'}, not SAML",
            f"{ENTRA_CLAIMS_PAGE}: select SAML; or " + run.deploy_lc,
            "Entra ignores the app's SAML settings (signing certificate, claims), so "
            + BAD_SIGNATURE,
        )
    if not sp.active_thumbprint:
        run.error(
            "entra_app",
            f"{what} has no active SAML signing certificate",
            f"{ENTRA_CLAIMS_PAGE} > SAML Certificates: add a certificate and make it active; or "
            + run.deploy_lc,
            BAD_SIGNATURE,
        )


def _check_assignments(
    run: _Run,
    tenant: EntraTenant,
    app: EntraApplication,
    sp: EntraServicePrincipal,
    reader: GraphReader,
) -> None:
    label = f"{sp.display_name!r} ({app.app_id})"
    assignments = reader.assignments(sp.object_id)
    listed = ", ".join(
        f"{a.display_name or a.principal_id} ({a.principal_type})" for a in assignments
    )
    requirement = "assignment required" if sp.assignment_required else "open to every user"
    run.notes.append(
        f"Entra application {label} for {tenant.idp_name}: {requirement}; assigned: "
        f"{listed or 'nobody'}"
    )
    if sp.assignment_required and not tenant.assignment_required:
        run.warn(
            "assignment",
            f"{label} requires assignment, but the config sets entra[].assignment_required: false",
            run.deploy + f", or assign users in {ENTRA_USERS_PAGE}",
            aadsts50105(label) + " (for every user not assigned)",
        )
    elif tenant.assignment_required and not sp.assignment_required:
        run.warn(
            "assignment",
            f"{label} does not require assignment, though the config does: every user of "
            f"tenant {tenant.tenant_id} can sign in to the apps",
            run.deploy + " (turns 'Assignment required?' back on)",
        )
    if sp.assignment_required and not assignments:
        run.warn(
            "assignment",
            f"{label} requires assignment and has no user or group assigned",
            f"Assign users or groups in {ENTRA_USERS_PAGE}, or list them in the config's "
            "entra[].assignments and deploy",
            aadsts50105(label) + " (for every user)",
        )
    assigned = {a.principal_id.lower() for a in assignments}
    wanted = [*tenant.assignments.users, *tenant.assignments.groups]
    missing = [principal for principal in wanted if principal.lower() not in assigned]
    if missing and sp.assignment_required:
        run.error(
            "assignment",
            f"{label} lacks the assignment(s) of {missing} that the config lists",
            run.deploy + f", or assign them in {ENTRA_USERS_PAGE}",
            aadsts50105(label) + " (for those users, and the members of those groups)",
        )
    groups = [a for a in assignments if a.principal_type == "Group"]
    if groups:
        run.notes.append(f"{label} is assigned to group(s): {GROUP_ASSIGNMENT_LIMITS}")
        _check_nested_groups(run, tenant, reader, label, groups[:MAX_GROUPS_CHECKED])
    if tenant.attribute_mapping.email == ENTRA_EMAIL_CLAIM:
        users = [a for a in assignments if a.principal_type == "User"][:MAX_USERS_CHECKED]
        _check_users_mail(run, tenant, reader, [a.principal_id for a in users])


def _check_nested_groups(
    run: _Run,
    tenant: EntraTenant,
    reader: GraphReader,
    label: str,
    groups: Sequence[Assignment],
) -> None:
    """Members of a group nested in an assigned group are not assigned (Microsoft: group-based
    assignment does not cascade to nested groups)."""
    for group in groups:
        try:
            nested = reader.member_groups(group.principal_id)
        except EntraReadError as error:
            run.notes.append(
                f"nested groups of the groups assigned in {tenant.idp_name} were not checked: "
                f"{error.message} (reading group members needs GroupMember.Read.All; "
                "--entra-credentials cli as an admin has it)"
            )
            return
        if not nested:
            continue
        names = ", ".join(f"{g.display_name or g.object_id} ({g.object_id})" for g in nested)
        run.warn(
            "assignment",
            f"group {group.display_name or group.principal_id!r}, assigned to {label}, has "
            f"nested group(s) {names}: their members are not assigned, because assignment "
            "does not reach members of nested groups",
            f"Assign the nested group(s) too (list them in entra[].assignments.groups and "
            f"deploy, or in {ENTRA_USERS_PAGE})",
            aadsts50105(label) + " (for members of the nested groups only)",
        )


def _check_users_mail(
    run: _Run, tenant: EntraTenant, reader: GraphReader, user_ids: Sequence[str]
) -> None:
    """Entra's default email claim comes from user.mail, empty for users without a mailbox."""
    for user_id in user_ids:
        try:
            user = reader.user(user_id)
        except EntraReadError as error:
            run.notes.append(
                f"the mail of users assigned in {tenant.idp_name} was not checked: "
                f"{error.message} (reading users needs User.Read.All; --entra-credentials cli "
                "as an admin has it)"
            )
            return
        if user is None or user.mail:
            continue
        run.warn(
            "claims",
            f"Entra user {user.display_name!r} ({user.user_principal_name}), assigned in "
            f"{tenant.idp_name}, has no mail, and Entra's email claim comes from user.mail by "
            "default",
            "Fill the user's Email in Entra, or make the claim's source user.userprincipalname "
            f"({ENTRA_CLAIMS_PAGE} > Attributes & Claims)",
            missing_attribute("email") + " (for this user)",
        )


# --- the handler's federated sign-in to Entra ---------------------------------------------


def _check_federation(run: _Run) -> None:
    """What the handler's federated sign-in to Entra needs; none of it needs the outputs."""
    federated = [tenant for tenant in run.config.entra if tenant.federation is not None]
    if not federated:
        return
    if run.iam is not None:
        run.token_issuer = _check_outbound_federation(run, run.iam)
    for tenant in federated:
        reader = run.entra_reader(tenant, "federation")
        if reader is None:
            continue
        try:
            _check_federated_credential(run, tenant, reader)
        except EntraReadError as error:
            run.entra_unreadable(tenant, error, "federation")


def _check_outbound_federation(run: _Run, iam: IamClient) -> str | None:
    """Whether the account vends web identity tokens; their issuer when it does."""
    from botocore import exceptions  # noqa: PLC0415

    try:
        info = iam.get_outbound_web_identity_federation_info()
    except (exceptions.ClientError, exceptions.BotoCoreError) as error:
        details = getattr(error, "response", {}).get("Error", {})
        # ClientError carries the wire code, "FeatureDisabled" (botocore's iam model, shape
        # FeatureDisabledException); the shape's name is accepted too.
        if details.get("Code") in ("FeatureDisabled", "FeatureDisabledException"):
            info = {"JwtVendingEnabled": False}
        else:
            reason = f"{details.get('Code')}: {details.get('Message')}" if details else error
            run.warn(
                "federation",
                f"the outbound identity federation of AWS account {run.config.account} could "
                f"not be read ({reason}), so the issuer the Entra credential must trust is not "
                "checked",
                "Run the doctor with permission for iam:GetOutboundWebIdentityFederationInfo",
            )
            return None
    if not info.get("JwtVendingEnabled"):
        run.error(
            "federation",
            f"outbound identity federation is off in AWS account {run.config.account}: the "
            "Entra handler cannot get the web identity token it signs in to Entra with",
            "Run aws iam enable-outbound-web-identity-federation once in the account "
            "(docs/entra-setup.md: Secretless: federated credentials, step 1)",
            "deploys fail: the Entra application's Create ends with "
            "OutboundWebIdentityFederationDisabledException",
        )
        return None
    return str(info.get("IssuerIdentifier") or "") or None


def _check_federated_credential(run: _Run, tenant: EntraTenant, reader: GraphReader) -> None:
    """The deployer app registration trusts the handler role's tokens, matched as Entra
    matches them: issuer, then subject, then audience."""
    federation = tenant.federation
    if federation is None or federation.client_id is None:  # the config refuses the latter
        return
    config = run.config
    output = keys.handler_role_output_key(tenant.cloud)
    subject = run.outputs.get(output) or (
        keys.handler_role_arn(config.account, config.region, config.stack_name, tenant.cloud)
        if config.account
        else None
    )
    bootstrap = (
        f"Run mobile-sso bootstrap-entra --env {run.env} as an admin of tenant "
        f"{tenant.tenant_id}: it makes the federated credential the handler needs"
    )
    deployer = f"the deployer app registration {federation.client_id}"
    credentials = reader.federated_credentials(federation.client_id)
    if credentials is None:
        run.error(
            "federation",
            f"tenant {tenant.tenant_id} has no app registration {federation.client_id} "
            "(entra[].federation.client_id)",
            bootstrap + ", and put the client id it prints in the config",
            "deploys fail: Entra answers AADSTS700016 (application not found in the directory)",
        )
        return
    matching = credentials
    if run.token_issuer is not None:
        matching = [c for c in matching if c.issuer == run.token_issuer]
        if not matching:
            run.error(
                "federation",
                f"no federated credential of {deployer} trusts the token issuer of AWS "
                f"account {config.account}, {run.token_issuer} (they trust: "
                f"{_listed(c.issuer for c in credentials)})",
                bootstrap,
                "deploys fail: Entra answers AADSTS700211 (no matching federated identity "
                "record for the assertion's issuer)",
            )
            return
    if subject is None:
        run.notes.append(
            f"{tenant.idp_name}: the handler role is unknown (no {output} output and no account "
            "in the config), so the federated credentials' subject was not checked"
        )
    same_subject = [c for c in matching if subject is None or c.subject == subject]
    if not same_subject:
        run.error(
            "federation",
            f"no federated credential of {deployer} trusts the handler role "
            f"{subject or 'of the stack'} "
            f"(they trust: {_listed(c.subject for c in matching)})",
            bootstrap,
            "deploys fail: Entra answers AADSTS700213 (no matching federated identity record "
            "for the assertion's subject)",
        )
        return
    if not any(federation.audience in c.audiences for c in same_subject):
        audiences = _listed(a for c in same_subject for a in c.audiences)
        run.error(
            "federation",
            f"the federated credential {_listed(c.name for c in same_subject)} of {deployer} "
            f"accepts the audience {audiences}, not entra[].federation.audience "
            f"{federation.audience}",
            f"Set entra[].federation.audience to {audiences} and deploy, or "
            + bootstrap[:1].lower()
            + bootstrap[1:],
            "deploys fail: STS issues the token for the config's audience and Entra answers "
            "AADSTS700212 (no matching federated identity record for the assertion's audience)",
        )


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values))) or "none"


def _check_metadata(run: _Run, tenant: EntraTenant, url: str, active: str | None) -> None:
    metadata, problems = read_metadata(run.fetch(url), run.now)
    where = f"identity provider {tenant.idp_name!r}'s metadata"
    for problem in problems:
        if problem.severity == "error":
            user_error = BAD_SIGNATURE
        elif "expires on" in problem.message:
            user_error = f"from that date, {BAD_SIGNATURE}"
        else:
            user_error = ""
        run.add(
            "metadata", problem.severity, f"{where}: {problem.message}", problem.fix, user_error
        )
    if metadata is not None:
        _check_metadata_identity(run, tenant, where, metadata, active)


def _check_metadata_identity(
    run: _Run, tenant: EntraTenant, where: str, metadata: Metadata, active: str | None
) -> None:
    if tenant.tenant_id.lower() not in metadata.entity_id.lower():
        run.error(
            "metadata",
            f"{where} describes {metadata.entity_id}, not tenant {tenant.tenant_id}",
            "Point the identity provider at this tenant's application metadata (the "
            "IdP<Idp>MetadataUrl output); " + run.deploy_lc,
            BAD_SIGNATURE,
        )
    served = sorted(thumbprint(c) for c in metadata.certificates)
    if active and served and active.upper() not in served:
        run.error(
            "metadata",
            f"Entra signs with the certificate {active.upper()}, but {where} serves "
            f"{', '.join(served)}",
            "Right after a certificate change, wait: the metadata URL follows within minutes "
            "and Cognito re-reads it within 6 hours. Otherwise check that the provider's "
            "metadata URL names this app (appid=) and tenant, or make the served certificate "
            f"active again in {ENTRA_CLAIMS_PAGE} > SAML Certificates",
            BAD_SIGNATURE,
        )


def _same_url(actual: str, expected: str) -> bool:
    a, b = urlsplit(actual.strip()), urlsplit(expected)
    return (a.scheme.lower(), a.netloc.lower(), a.path.rstrip("/"), a.query) == (
        b.scheme.lower(),
        b.netloc.lower(),
        b.path.rstrip("/"),
        b.query,
    )


# --- sign-in URLs ------------------------------------------------------------------------


def _sign_in_urls(
    config: EnvironmentConfig,
    stack: StackOutputs,
    deployed: Mapping[str, AppClientOutputs],
    only: str | None,
) -> list[SignInUrl]:
    urls: list[SignInUrl] = []
    for app_client in config.clients:
        if (only is not None and app_client.name != only) or app_client.name not in deployed:
            continue
        code = OAuthFlow.AUTHORIZATION_CODE in app_client.oauth_flows
        for idp in config.client_idp_names(app_client):
            query = urlencode(
                {
                    "identity_provider": idp,
                    "client_id": deployed[app_client.name].client_id,
                    "response_type": "code" if code else "token",
                    "scope": " ".join(app_client.scopes),
                    "redirect_uri": app_client.callback_urls[0],
                },
                quote_via=quote,
            )
            host = normalize_domain(stack.cognito_domain)
            urls.append(SignInUrl(app_client.name, idp, f"https://{host}/oauth2/authorize?{query}"))
    return urls
