"""`mobile-sso bootstrap-entra`: the deployer app registration, made by an Entra admin.

The custom resource signs in to Microsoft Graph as a *deployer* app registration. This
module makes it in the admin's name (a delegated token from Azure CLI or a device-code
sign-in): the registration, keyed by Graph's `uniqueName` alternate key so a re-run finds
it; exactly the Microsoft Graph application permissions the handler needs, with admin
consent; its service principal; a credential (client secret, certificate or federated
identity credential); and the Secrets Manager secret the stack reads.

Every step reads first and writes only what differs, so a second run writes nothing, and a
run that failed halfway is completed by running it again. Graph is called with plain httpx,
like the doctor (mobile_sso.entra_graph): msgraph-sdk is not a dependency of the CLI and
would cost seconds of imports for a dozen calls.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from mobile_sso import outputs
from mobile_sso.config import EntraTenant, EnvironmentConfig
from mobile_sso.entra_graph import (
    HTTP_TIMEOUT_SECONDS,
    Endpoints,
    EntraError,
    graph_url,
    self_signed_certificate,
    send_bounded,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph, in every tenant
APPLICATION_READ_WRITE_ALL = "Application.ReadWrite.All"
APP_ROLE_ASSIGNMENT_READ_WRITE_ALL = "AppRoleAssignment.ReadWrite.All"
# Azure CLI's public client: a device-code sign-in through it gets the same Graph access as
# `az login`, and needs no app registration of its own.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
FEDERATED_CREDENTIAL_NAME = "mobile-sso-handler"
CREDENTIAL_LABEL = "mobile-sso bootstrap-entra"
DEFAULT_VALID_DAYS = 180
MAX_VALID_DAYS = 730  # what the Entra admin center offers for client secrets at most
RENEW_WITHIN = dt.timedelta(days=30)
# Graph replication right after a create: retried with growing pauses up to this long.
RETRY_FIRST_DELAY_SECONDS = 1.0
RETRY_MAX_DELAY_SECONDS = 15.0
RETRY_DEADLINE_SECONDS = 180.0
_TRANSIENT = frozenset({429, 500, 502, 503, 504})

log = logging.getLogger(__name__)


class CredentialKind(StrEnum):
    """How the deployer app registration proves who it is."""

    SECRET = "secret"  # noqa: S105 - the name of a choice, not a secret
    CERTIFICATE = "certificate"
    FEDERATED = "federated"


class AdminAuth(StrEnum):
    """How the Entra admin running the command signs in."""

    AZURE_CLI = "azure-cli"
    DEVICE_CODE = "device-code"


class BootstrapError(EntraError):
    """A step of the bootstrap failed."""


@dataclass(frozen=True)
class Federation:
    """Who may sign in as the deployer without a secret (a federated identity credential)."""

    issuer: str
    subject: str
    audience: str = FEDERATED_AUDIENCE


@dataclass(frozen=True)
class Target:
    """What to make, for one Entra tenant of one environment."""

    env: str
    stack_name: str
    idp_name: str
    tenant_id: str
    secret_reference: str | None  # None: the tenant uses federation (no stored secret)
    secret_region: str
    permissions: tuple[str, ...]
    # entra[].federation of the config, when the tenant uses it: the client id (None until
    # this command printed it) and the audience; the subject is the handler role's ARN.
    federated_client_id: str | None = None
    federation_audience: str | None = None
    handler_role_arn: str | None = None

    @property
    def secret(self) -> str:
        """The Secrets Manager secret (name or ARN) the stack reads."""
        if self.secret_reference is None:
            raise BootstrapError(
                f"tenant {self.tenant_id} ({self.idp_name}) uses federation: the stack reads "
                "no secret",
                "Use --credential federated, or replace entra[].federation with "
                "credentials_secret in the config.",
            )
        return self.secret_reference

    @property
    def unique_name(self) -> str:
        """The deployer's `uniqueName` (Graph's client-chosen alternate key): one registration
        per stack and identity provider, found again by every later run."""
        raw = f"mobile-sso-deployer-{self.stack_name}-{self.idp_name}".lower()
        return re.sub(r"[^a-z0-9-]+", "-", raw)

    @property
    def display_name(self) -> str:
        return f"mobile-sso deployer ({self.stack_name}, {self.idp_name})"

    @property
    def notes(self) -> str:
        return (
            f"The custom resource of the cognito-entra-sso stack {self.stack_name} signs in as "
            f"this app to create the {self.idp_name} enterprise application. Made by "
            "`mobile-sso bootstrap-entra`; re-run it to repair or rotate the credential."
        )


def required_permissions(tenant: EntraTenant) -> tuple[str, ...]:
    """The Graph application permissions the handler's calls need for this tenant (SECURITY.md,
    "In Entra ID"): assignments as code add AppRoleAssignment.ReadWrite.All."""
    if tenant.assignments.users or tenant.assignments.groups:
        return (APPLICATION_READ_WRITE_ALL, APP_ROLE_ASSIGNMENT_READ_WRITE_ALL)
    return (APPLICATION_READ_WRITE_ALL,)


def target_for(env: str, config: EnvironmentConfig, idp: str | None) -> Target:
    """The tenant of `config` named by `idp` (the only one when `idp` is None)."""
    if not config.entra:
        raise BootstrapError(
            f"environment {env} configures no Entra tenant (entra: is empty)",
            "Add the tenant to the config's entra list (docs/configuration.md).",
        )
    names = [tenant.idp_name for tenant in config.entra]
    if idp is None:
        if len(config.entra) > 1:
            raise BootstrapError(
                f"environment {env} has {len(names)} Entra tenants: {', '.join(names)}",
                "Pick one with --idp NAME; run the command once per tenant (each tenant's "
                "admin signs in to their own).",
            )
        tenant = config.entra[0]
    else:
        found = [tenant for tenant in config.entra if tenant.idp_name == idp]
        if not found:
            raise BootstrapError(
                f"--idp {idp!r} is not an Entra tenant of {env}; configured: {', '.join(names)}",
                "Use one of the configured idp_name values.",
            )
        tenant = found[0]
    reference = tenant.credentials_secret
    region = (
        reference.split(":")[3] if reference and reference.startswith("arn:") else config.region
    )
    federation = tenant.federation
    return Target(
        env=env,
        stack_name=config.stack_name,
        idp_name=tenant.idp_name,
        tenant_id=tenant.tenant_id,
        secret_reference=reference,
        secret_region=region,
        permissions=required_permissions(tenant),
        federated_client_id=federation.client_id if federation else None,
        federation_audience=federation.audience if federation else None,
        handler_role_arn=outputs.handler_role_arn(
            config.account, config.region, config.stack_name, tenant.cloud
        )
        if federation and config.account
        else None,
    )


# --- Graph, as the signed-in admin ----------------------------------------------------------


def _error_of(response: Any) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", response.text[:200]
    return str(error.get("code") or ""), str(error.get("message") or "")


def _fix_for(status: int, call: str) -> str:
    if status == 401:
        return "Sign in again (az login --tenant <tenant id>) and re-run."
    if status == 403:
        if "appRoleAssignedTo" in call:
            return (
                "Granting Microsoft Graph application permissions (admin consent) takes the "
                "Global Administrator or Privileged Role Administrator role: re-run as such an "
                "admin (what was done so far is kept and skipped)."
            )
        return (
            "Sign in as an admin allowed to create app registrations (Cloud Application "
            "Administrator, Application Administrator or Global Administrator), whose sign-in "
            "has the Application.ReadWrite.All and AppRoleAssignment.ReadWrite.All scopes."
        )
    return "Re-run the command; if it persists, look the request id up in Entra's audit logs."


class AdminGraph:
    """Microsoft Graph v1.0 over httpx, with the admin's bearer token. 429 and 5xx are
    retried (honouring Retry-After); with `fresh=True` also the 404/400 Graph answers while an
    object made a moment ago replicates. Every retry ends by `RETRY_DEADLINE_SECONDS`."""

    def __init__(
        self,
        http: Any,  # an httpx.Client
        endpoints: Endpoints,
        token: Callable[[], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._endpoints = endpoints
        self._token = token
        self._sleep = sleep
        self._clock = clock

    def get(
        self, path: str, params: Mapping[str, str] | None = None, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """The object at `path`, or None when Graph answers 404."""
        return self.call("GET", path, params=params, fresh=fresh, missing_ok=True)

    def list(
        self, path: str, params: Mapping[str, str] | None = None, *, fresh: bool = False
    ) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink."""
        items: list[dict[str, Any]] = []
        page = self.call("GET", path, params=params, fresh=fresh)
        while page is not None:
            items.extend(page.get("value") or [])
            next_link = page.get("@odata.nextLink")
            page = self.call("GET", str(next_link)) if next_link else None
        return items

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        fresh: bool = False,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        import httpx  # noqa: PLC0415

        call = f"{method} {path.split('?', maxsplit=1)[0]}"
        url = graph_url(self._endpoints, path, call, BootstrapError)
        started = self._clock()
        delay = RETRY_FIRST_DELAY_SECONDS
        while True:
            sent = {
                "Authorization": f"Bearer {self._token()}",
                "Accept": "application/json",
                **(headers or {}),
            }
            try:
                response = send_bounded(
                    self._http,
                    method,
                    url,
                    call,
                    error=BootstrapError,
                    params=params,
                    json=body,
                    headers=sent,
                )
            except httpx.HTTPError as error:
                raise BootstrapError(
                    f"Microsoft Graph {call} failed: {error or type(error).__name__}",
                    f"Check the network route to {self._endpoints.graph} (proxy, firewall), "
                    "then re-run.",
                ) from None
            status = response.status_code
            if status < 400:
                return response.json() if response.content else None
            code, message = _error_of(response)
            # "already exists" is an answer, not lag: a retried POST whose first try
            # committed (after a 5xx or a lost answer) meets its own result.
            replicating = fresh and (
                status == 404
                or (status == 400 and code == "Request_BadRequest" and not _exists(message))
            )
            if status == 404 and missing_ok and not fresh:
                return None
            waited = self._clock() - started
            if (status in _TRANSIENT or replicating) and waited < RETRY_DEADLINE_SECONDS:
                pause = _retry_after(response) if status == 429 else None
                pause = min(pause if pause is not None else delay, RETRY_MAX_DELAY_SECONDS)
                log.debug("retrying %s after %s %s in %.1f s", call, status, code, pause)
                self._sleep(pause)
                delay = min(delay * 2, RETRY_MAX_DELAY_SECONDS)
                continue
            if status == 404 and missing_ok:
                return None
            request_id = response.headers.get("request-id", "")
            raise BootstrapError(
                f"Microsoft Graph {call} answered {status} {code}: {message}"
                + (f" (request id {request_id})" if request_id else ""),
                _fix_for(status, call),
                status=status,
                code=code,
            )


def _exists(message: str) -> bool:
    return "already exists" in message.lower()


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def admin_credential(
    auth: AdminAuth,
    endpoints: Endpoints,
    tenant_id: str,
    *,
    client_id: str = AZURE_CLI_CLIENT_ID,
    prompt: Callable[[str], None],
) -> TokenCredential:
    """The admin's credential: Azure CLI's signed-in account, or a device-code sign-in."""
    try:
        from azure import identity  # noqa: PLC0415
    except ImportError:
        raise BootstrapError(
            "bootstrap-entra needs azure-identity and httpx, which are not installed",
            "pip install azure-identity httpx",
        ) from None
    if auth is AdminAuth.AZURE_CLI:
        return identity.AzureCliCredential(tenant_id=tenant_id)
    options: dict[str, Any] = {"authority": endpoints.login}
    if endpoints.ca_bundle:
        options["connection_verify"] = endpoints.ca_bundle
    if not endpoints.public_authority:
        options["disable_instance_discovery"] = True

    def show(uri: str, code: str, _expires: dt.datetime) -> None:
        prompt(f"To sign in as an Entra admin of {tenant_id}, open {uri} and enter {code}")

    return identity.DeviceCodeCredential(
        client_id=client_id, tenant_id=tenant_id, prompt_callback=show, **options
    )


def token_provider(
    credential: TokenCredential, endpoints: Endpoints, tenant_id: str, auth: AdminAuth
) -> Callable[[], str]:
    """A function returning the admin's current Graph token (fetched once, renewed by the
    credential's own cache when it nears expiry)."""

    def token() -> str:
        from azure.core.exceptions import AzureError  # noqa: PLC0415

        try:
            return credential.get_token(endpoints.scope).token
        except AzureError as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            fix = (
                f"Run `az login --tenant {tenant_id}` as an Entra admin of the tenant, then "
                "re-run (or sign in with --auth device-code)."
                if auth is AdminAuth.AZURE_CLI
                else "Complete the device-code sign-in as an Entra admin of the tenant, or use "
                "--auth azure-cli after `az login`."
            )
            raise BootstrapError(
                f"could not get a Microsoft Graph token for tenant {tenant_id}: {first_line}",
                fix,
            ) from None

    return token


@contextmanager
def open_admin_graph(
    auth: AdminAuth,
    endpoints: Endpoints,
    tenant_id: str,
    *,
    client_id: str,
    prompt: Callable[[str], None],
) -> Iterator[AdminGraph]:
    """Graph as the signed-in admin; connections and the credential are closed afterwards."""
    import httpx  # noqa: PLC0415

    credential = admin_credential(auth, endpoints, tenant_id, client_id=client_id, prompt=prompt)
    try:
        with httpx.Client(verify=endpoints.tls(), timeout=HTTP_TIMEOUT_SECONDS) as http:
            yield AdminGraph(
                http, endpoints, token_provider(credential, endpoints, tenant_id, auth)
            )
    finally:
        close = getattr(credential, "close", None)
        if callable(close):
            close()


# --- Secrets Manager ------------------------------------------------------------------------


class SecretsClient(Protocol):
    def describe_secret(self, *, SecretId: str) -> Mapping[str, Any]: ...

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...

    def create_secret(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def put_secret_value(self, **kwargs: Any) -> Mapping[str, Any]: ...


def secrets_client(region: str) -> SecretsClient:
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415 (slow import)

    # botocore's DEBUG wire log prints request bodies verbatim, the new secret included.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))
    client: SecretsClient = boto3.client("secretsmanager", region_name=region)
    return client


def _aws_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__)


@dataclass(frozen=True)
class StoredSecret:
    exists: bool
    value: dict[str, Any] | None = field(default=None, repr=False)


def read_stored(reference: str, client: SecretsClient) -> StoredSecret:
    """The deployer secret as stored now: absent, present without a usable JSON value, or its
    JSON object."""
    try:
        described = client.describe_secret(SecretId=reference)
    except Exception as error:  # botocore's errors, without importing botocore here
        if _aws_code(error) == "ResourceNotFoundException":
            return StoredSecret(exists=False)
        raise _secrets_error("DescribeSecret", reference, error) from None
    if described.get("DeletedDate"):
        raise BootstrapError(
            f"the secret {reference} is scheduled for deletion",
            f"Restore it (aws secretsmanager restore-secret --secret-id {reference}) or point "
            "entra[].credentials_secret at another secret, then re-run.",
        )
    try:
        response = client.get_secret_value(SecretId=reference)
    except Exception as error:
        if _aws_code(error) == "ResourceNotFoundException":  # a secret with no value yet
            return StoredSecret(exists=True)
        raise _secrets_error("GetSecretValue", reference, error) from None
    try:
        value = json.loads(response.get("SecretString") or "")
    except json.JSONDecodeError:
        value = None
    return StoredSecret(exists=True, value=value if isinstance(value, dict) else None)


def _secrets_error(action: str, reference: str, error: Exception) -> BootstrapError:
    return BootstrapError(
        f"Secrets Manager {action} on {reference} failed ({_aws_code(error)})",
        f"Sign in to the stack's AWS account with secretsmanager:{action} (and "
        "secretsmanager:CreateSecret, PutSecretValue, DescribeSecret, GetSecretValue) on the "
        "secret, then re-run.",
    )


# --- the run --------------------------------------------------------------------------------


@dataclass
class Progress:
    """What the run found, did and (in a dry run) would do, reported line by line."""

    dry_run: bool
    echo: Callable[[str], None]
    done: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)

    def found(self, what: str) -> None:
        self.echo(f"  ok    {what}")

    def write(self, what: str, call: str, action: Callable[[], Any]) -> Any:
        """Carry out `action` (one write), or only report it in a dry run."""
        if self.dry_run:
            self.planned.append(what)
            self.echo(f"  plan  {what}\n          {call}")
            return None
        result = action()
        self.done.append(what)
        self.echo(f"  done  {what}")
        return result


@dataclass(frozen=True)
class Outcome:
    app_id: str | None
    writes: tuple[str, ...]
    planned: tuple[str, ...]


APP_FIELDS = "id,appId,displayName,uniqueName,requiredResourceAccess,passwordCredentials"
_KEY_CREDENTIAL_FIELDS = ("customKeyIdentifier", "displayName", "key", "keyId", "type", "usage")


def _same_access(current: Any, wanted: list[dict[str, Any]]) -> bool:
    def normal(value: Any) -> set[tuple[str, str, str]]:
        return {
            (str(resource.get("resourceAppId")).lower(), str(a.get("id")).lower(), a.get("type"))
            for resource in value or []
            for a in resource.get("resourceAccess") or []
        }

    return normal(current) == normal(wanted)


def _graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass
class Bootstrap:
    """One run for one tenant: every step reads, then writes only what differs."""

    target: Target
    graph: AdminGraph
    secrets: SecretsClient
    progress: Progress
    credential: CredentialKind = CredentialKind.CERTIFICATE
    federation: Federation | None = None
    rotate: bool = False
    valid_days: int = DEFAULT_VALID_DAYS
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    graph_sp_id: str = ""  # Microsoft Graph's service principal in the tenant, once read
    # Objects this run created: Graph may not show them everywhere yet (replication).
    fresh: set[str] = field(default_factory=set)

    def run(self) -> Outcome:
        role_ids = self._graph_role_ids()
        application = self._application(role_ids)
        app_id = application["appId"] if application else None
        sp_id = self._service_principal(application)
        self._consent(sp_id, role_ids)
        if self.credential is CredentialKind.FEDERATED:
            self._federated_credential(application)
        else:
            self._stored_credential(application)
        return Outcome(app_id, tuple(self.progress.done), tuple(self.progress.planned))

    # -- Microsoft Graph's app roles ---------------------------------------------------------

    def _graph_role_ids(self) -> dict[str, str]:
        graph_sp = self.graph.get(
            f"/servicePrincipals(appId='{GRAPH_APP_ID}')", {"$select": "id,appId,appRoles"}
        )
        if graph_sp is None:
            raise BootstrapError(
                f"tenant {self.target.tenant_id} has no Microsoft Graph service principal "
                f"(appId {GRAPH_APP_ID})",
                "Check --env/--idp: the tenant id may be wrong; every Entra tenant has one.",
            )
        self.graph_sp_id = str(graph_sp["id"])
        roles = {
            str(role.get("value")): str(role.get("id"))
            for role in graph_sp.get("appRoles") or []
            if role.get("isEnabled") and "Application" in (role.get("allowedMemberTypes") or [])
        }
        missing = [name for name in self.target.permissions if name not in roles]
        if missing:
            raise BootstrapError(
                f"Microsoft Graph in tenant {self.target.tenant_id} offers no application "
                f"permission {', '.join(missing)}",
                "Check the tenant's cloud (entra[].cloud) and report this as a bug.",
            )
        return {name: roles[name] for name in self.target.permissions}

    # -- the app registration ----------------------------------------------------------------

    def _wanted_access(self, role_ids: Mapping[str, str]) -> list[dict[str, Any]]:
        access = [{"id": role_ids[name], "type": "Role"} for name in self.target.permissions]
        return [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": access}]

    def _application(self, role_ids: Mapping[str, str]) -> dict[str, Any] | None:
        key = f"/applications(uniqueName='{quote(self.target.unique_name)}')"
        wanted = self._wanted_access(role_ids)
        permissions = ", ".join(self.target.permissions)
        application = self.graph.get(key, {"$select": APP_FIELDS})
        if application is None:
            deleted = self._deleted_application()
            if deleted is not None:
                application = self._restore(deleted, key)
                if application is None:
                    return None
        if application is None:
            body = {
                "displayName": self.target.display_name,
                "signInAudience": "AzureADMyOrg",
                "notes": self.target.notes,
                "requiredResourceAccess": wanted,
            }
            self.progress.write(
                f"create app registration {self.target.display_name!r} "
                f"(uniqueName {self.target.unique_name}) requesting {permissions}",
                f"PATCH {key} (Prefer: create-if-missing)",
                lambda: self.graph.call(
                    "PATCH", key, body=body, headers={"Prefer": "create-if-missing"}
                ),
            )
            if self.progress.dry_run:
                return None
            # Read it back by its key: the create answers 201 with the object, or 204 when a
            # concurrent run made it first.
            return self._read_back(key, "created")
        self.progress.found(
            f"app registration {application.get('displayName')!r} (appId {application['appId']})"
        )
        if _same_access(application.get("requiredResourceAccess"), wanted):
            self.progress.found(f"requested permissions: {permissions}")
        else:
            path = f"/applications/{application['id']}"
            self.progress.write(
                f"set requested permissions to exactly {permissions}",
                f"PATCH {path} {{requiredResourceAccess}}",
                lambda: self.graph.call(
                    "PATCH", path, body={"requiredResourceAccess": wanted}, fresh=True
                ),
            )
        return application

    def _deleted_application(self) -> dict[str, Any] | None:
        """The deployer in Entra's deleted items: it keeps its uniqueName there for 30 days,
        so a new one cannot take it. Graph documents no $filter on uniqueName, so the
        deleted applications are listed and matched here."""
        wanted = self.target.unique_name.casefold()
        deleted = self.graph.list(
            "/directory/deletedItems/microsoft.graph.application",
            {"$select": "id,appId,displayName,uniqueName,deletedDateTime", "$top": "999"},
        )
        return next(
            (a for a in deleted if str(a.get("uniqueName") or "").casefold() == wanted), None
        )

    def _restore(self, deleted: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        path = f"/directory/deletedItems/{deleted['id']}/restore"
        when = _parse_time(deleted.get("deletedDateTime"))
        self.progress.write(
            f"restore app registration {deleted.get('displayName')!r} (appId "
            f"{deleted.get('appId')}, uniqueName {self.target.unique_name}) from Entra's "
            "deleted items" + (f", where it went on {when:%Y-%m-%d}" if when else ""),
            f"POST {path}",
            lambda: self.graph.call("POST", path),
        )
        if self.progress.dry_run:
            return None
        return self._read_back(key, "restored")

    def _read_back(self, key: str, done: str) -> dict[str, Any]:
        """The app registration just created or restored, read by its uniqueName key."""
        application = self.graph.get(key, {"$select": APP_FIELDS}, fresh=True)
        if application is None:
            raise BootstrapError(
                f"the app registration {self.target.unique_name} was {done} but cannot be "
                "read back yet",
                "Re-run in a minute: it is found by its uniqueName.",
            )
        self.fresh.add(str(application["id"]))
        return application

    def _service_principal(self, application: Mapping[str, Any] | None) -> str | None:
        if application is None:
            self.progress.write(
                "create the app registration's service principal",
                "POST /servicePrincipals {appId}",
                lambda: None,
            )
            return None
        app_id = str(application["appId"])
        path = f"/servicePrincipals(appId='{app_id}')"
        found = self.graph.get(path, {"$select": "id,appId"})
        if found is not None:
            self.progress.found(f"service principal {found['id']}")
            return str(found["id"])
        made = self.progress.write(
            "create the app registration's service principal",
            "POST /servicePrincipals {appId}",
            lambda: self._create_service_principal(app_id, path),
        )
        if made is None:
            return None
        self.fresh.add(str(made["id"]))
        return str(made["id"])

    def _create_service_principal(self, app_id: str, path: str) -> dict[str, Any]:
        try:
            made = self.graph.call("POST", "/servicePrincipals", body={"appId": app_id}, fresh=True)
        except BootstrapError as error:
            if error.status != 409:
                raise
            made = self.graph.get(path, {"$select": "id,appId"}, fresh=True)
        if made is None:
            raise BootstrapError(
                f"the service principal of {app_id} was created but cannot be read back yet",
                "Re-run in a minute.",
            )
        return made

    # -- admin consent -----------------------------------------------------------------------

    def _consent(self, sp_id: str | None, role_ids: Mapping[str, str]) -> None:
        granted: dict[str, str] = {}  # role id -> assignment id
        if sp_id is not None:
            path = f"/servicePrincipals/{sp_id}/appRoleAssignments"
            for assignment in self.graph.list(path, fresh=sp_id in self.fresh):
                if str(assignment.get("resourceId")).lower() == self.graph_sp_id.lower():
                    granted[str(assignment["appRoleId"]).lower()] = str(assignment["id"])
        assigned_to = f"/servicePrincipals/{self.graph_sp_id}/appRoleAssignedTo"
        for name, role_id in role_ids.items():
            if role_id.lower() in granted:
                self.progress.found(f"admin consent for {name}")
                continue
            body = {"principalId": sp_id, "resourceId": self.graph_sp_id, "appRoleId": role_id}
            self.progress.write(
                f"grant admin consent for {name}",
                f"POST {assigned_to} {{principalId, resourceId, appRoleId}}",
                partial(self._grant, assigned_to, body),
            )
        wanted = {role_id.lower() for role_id in role_ids.values()}
        for role_id, assignment_id in granted.items():
            if role_id in wanted:
                continue
            path = f"{assigned_to}/{assignment_id}"
            self.progress.write(
                f"revoke Microsoft Graph app role {role_id}, which the handler does not need",
                f"DELETE {assigned_to}/{{id}}",
                partial(self.graph.call, "DELETE", path),
            )

    def _grant(self, assigned_to: str, body: Mapping[str, Any]) -> None:
        try:
            self.graph.call("POST", assigned_to, body=body, fresh=True)
        except BootstrapError as error:
            # Our own earlier try (answered 5xx or lost after Graph committed it).
            if not (error.status == 400 and _exists(error.message)):
                raise

    # -- credentials -------------------------------------------------------------------------

    def _federated_credential(self, application: Mapping[str, Any] | None) -> None:
        federation = self.federation
        if federation is None:
            raise BootstrapError(
                "--credential federated needs --issuer and --subject",
                "Give the issuer and subject of the handler's identity (its role ARN).",
            )
        wanted = {
            "name": FEDERATED_CREDENTIAL_NAME,
            "issuer": federation.issuer,
            "subject": federation.subject,
            "audiences": [federation.audience],
            "description": f"The custom resource of {self.target.stack_name} signs in as this "
            "app with a token of its role, without a secret.",
        }
        what = f"federated credential for subject {federation.subject}"
        if application is None:
            self.progress.write(
                f"add {what}",
                "POST /applications/{id}/federatedIdentityCredentials",
                lambda: None,
            )
            return
        path = f"/applications/{application['id']}/federatedIdentityCredentials"
        existing = next(
            (
                c
                for c in self.graph.list(path, fresh=application["id"] in self.fresh)
                if str(c.get("name")).casefold() == FEDERATED_CREDENTIAL_NAME
            ),
            None,
        )
        if existing is None:
            self.progress.write(f"add {what}", f"POST {path}", partial(self._add_fic, path, wanted))
            return
        current = {k: existing.get(k) for k in ("issuer", "subject", "audiences")}
        if current == {k: wanted[k] for k in current}:
            self.progress.found(what)
            return
        changes = {k: wanted[k] for k in ("issuer", "subject", "audiences")}
        item = f"{path}/{existing['id']}"
        self.progress.write(
            f"update {what} (was subject {existing.get('subject')})",
            f"PATCH {path}/{{id}}",
            lambda: self.graph.call("PATCH", item, body=changes),
        )

    def _add_fic(self, path: str, wanted: Mapping[str, Any]) -> None:
        try:
            self.graph.call("POST", path, body=wanted, fresh=True)
        except BootstrapError as error:
            # 409: a credential with this name, our own earlier try (answered 5xx or lost
            # after Graph committed it); 400 InvalidFederatedIdentityCredentialValue: another
            # credential already holding this issuer and subject.
            another = (
                error.status == 400 and error.code == "InvalidFederatedIdentityCredentialValue"
            )
            if error.status != 409 and not another:
                raise
            names = [str(c.get("name")) for c in self.graph.list(path, fresh=True)]
            if FEDERATED_CREDENTIAL_NAME not in names:
                raise BootstrapError(
                    f"{error.message}: another federated credential of the app registration "
                    f"({', '.join(names)}) already trusts issuer {wanted['issuer']} and subject "
                    f"{wanted['subject']}",
                    "Delete that credential in the Entra admin center (App registrations > "
                    f"{self.target.display_name} > Certificates & secrets > Federated "
                    "credentials), then re-run.",
                    status=error.status,
                    code=error.code,
                ) from None

    def _stored_credential(self, application: Mapping[str, Any] | None) -> None:
        target = self.target
        stored = read_stored(target.secret, self.secrets)
        kind = self.credential.value
        if application is None:
            self.progress.write(
                f"add a {kind} credential to the app registration",
                "POST /applications/{id}/addPassword"
                if self.credential is CredentialKind.SECRET
                else "PATCH /applications/{id} {keyCredentials}",
                lambda: None,
            )
            self.progress.write(
                f"store the credential in Secrets Manager secret {target.secret}",
                "secretsmanager:PutSecretValue" if stored.exists else "secretsmanager:CreateSecret",
                lambda: None,
            )
            return
        app_id = str(application["appId"])
        value = stored.value or {}
        holder = str(value.get("clientId") or "")
        if (
            stored.value is not None
            and holder
            and holder.lower() != app_id.lower()
            and not self.rotate
        ):
            raise BootstrapError(
                f"the secret {target.secret} holds credentials of another app "
                f"registration (clientId {holder}): one made by hand, or another environment's "
                "deployer sharing this secret",
                "To replace them with this deployer's, re-run with --rotate-credential; to keep "
                "both, give this environment its own entra[].credentials_secret.",
            )
        same_tenant = str(value.get("tenantId") or "").lower() == target.tenant_id.lower()
        ours = holder.lower() == app_id.lower() and same_tenant
        if ours and not self.rotate and self._still_valid(application, value):
            self.progress.found(f"{kind} credential in Secrets Manager secret {target.secret}")
            return
        if self.credential is CredentialKind.SECRET:
            minted, note = self._add_password(application)
        else:
            minted, note = self._add_certificate(application)
        if minted is None:
            return
        secret_string = json.dumps({"tenantId": target.tenant_id, "clientId": app_id, **minted})
        try:
            self._store(stored.exists, secret_string)
        except BootstrapError as error:
            raise BootstrapError(
                f"{error.message}; the new {kind} ({note}) was added to the app registration "
                "but not stored",
                f"{error.fix} The re-run adds another {kind}: remove the unstored one in the "
                "Entra admin center (App registrations > "
                f"{target.display_name} > Certificates & secrets).",
            ) from None

    def _still_valid(self, application: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
        horizon = self.now + RENEW_WITHIN
        if self.credential is CredentialKind.SECRET:
            secret = value.get("clientSecret")
            if not isinstance(secret, str) or not secret:
                return False
            return any(
                password.get("hint") == secret[:3]
                and (_parse_time(password.get("endDateTime")) or self.now) > horizon
                for password in application.get("passwordCredentials") or []
            )
        pem = value.get("certificatePem")
        certificate = _certificate_in(pem) if isinstance(pem, str) else None
        if certificate is None or certificate.not_valid_after_utc <= horizon:
            return False
        registered = self._key_credentials(application)
        return any(k.get("customKeyIdentifier") == _key_identifier(certificate) for k in registered)

    def _key_credentials(self, application: Mapping[str, Any]) -> list[dict[str, Any]]:
        # Graph returns each certificate's `key` only when keyCredentials is selected.
        found = self.graph.get(
            f"/applications/{application['id']}", {"$select": "id,keyCredentials"}, fresh=True
        )
        return list((found or {}).get("keyCredentials") or [])

    def _add_password(self, application: Mapping[str, Any]) -> tuple[dict[str, str] | None, str]:
        path = f"/applications/{application['id']}/addPassword"
        end = self.now + dt.timedelta(days=self.valid_days)
        body = {
            "passwordCredential": {
                "displayName": f"{CREDENTIAL_LABEL} {self.now:%Y-%m-%d}",
                "endDateTime": _graph_time(end),
            }
        }
        made = self.progress.write(
            f"add a client secret valid until {end:%Y-%m-%d}",
            f"POST {path} {{passwordCredential: {{displayName, endDateTime}}}}",
            lambda: self.graph.call("POST", path, body=body, fresh=True),
        )
        if made is None:
            self._plan_store()
            return None, ""
        return {"clientSecret": str(made["secretText"])}, f"keyId {made.get('keyId')}"

    def _add_certificate(self, application: Mapping[str, Any]) -> tuple[dict[str, str] | None, str]:
        key_pem, cert_pem, certificate = _make_certificate(
            self.target.display_name, self.now, self.valid_days
        )
        new_key = _key_credential(certificate, f"{CREDENTIAL_LABEL} {self.now:%Y-%m-%d}")
        # PATCH replaces the whole collection: keep every certificate still valid (Graph shows
        # their `key` when selected), so the handler keeps working until the secret changes.
        kept = [
            {k: credential.get(k) for k in _KEY_CREDENTIAL_FIELDS}
            for credential in self._key_credentials(application)
            if credential.get("key")
            and (_parse_time(credential.get("endDateTime")) or self.now) > self.now
        ]
        path = f"/applications/{application['id']}"
        thumbprint = _thumbprint(certificate)
        self.progress.write(
            f"add a certificate (SHA-1 {thumbprint}) valid until "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}"
            + (f", keeping {len(kept)} valid one(s)" if kept else ""),
            f"PATCH {path} {{keyCredentials}}",
            lambda: self.graph.call(
                "PATCH", path, body={"keyCredentials": [*kept, new_key]}, fresh=True
            ),
        )
        if self.progress.dry_run:
            self._plan_store()
            return None, ""
        return {"certificatePem": key_pem + cert_pem}, f"thumbprint {thumbprint}"

    def _plan_store(self) -> None:
        self.progress.write(
            f"store the credential in Secrets Manager secret {self.target.secret}",
            "secretsmanager:CreateSecret or PutSecretValue",
            lambda: None,
        )

    def _store(self, exists: bool, secret_string: str) -> None:
        reference = self.target.secret
        if exists:
            self.progress.write(
                f"store the credential as a new version of secret {reference}",
                "secretsmanager:PutSecretValue",
                lambda: self._aws(
                    "PutSecretValue",
                    lambda: self.secrets.put_secret_value(
                        SecretId=reference, SecretString=secret_string
                    ),
                ),
            )
            return
        if reference.startswith("arn:"):
            raise BootstrapError(
                f"the secret {reference} does not exist, and a secret cannot be created by ARN",
                "Set entra[].credentials_secret to a secret name (the stack finds it by name), "
                "or create the secret first.",
            )
        self.progress.write(
            f"create secret {reference} in {self.target.secret_region} with the credential",
            "secretsmanager:CreateSecret",
            lambda: self._aws(
                "CreateSecret",
                lambda: self.secrets.create_secret(
                    Name=reference,
                    SecretString=secret_string,
                    Description=f"Entra deployer credentials of {self.target.stack_name} "
                    f"({self.target.idp_name}), written by mobile-sso bootstrap-entra",
                ),
            ),
        )

    def _aws(self, action: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as error:  # botocore's errors, without importing botocore here
            raise _secrets_error(action, self.target.secret, error) from None


# --- certificates ---------------------------------------------------------------------------


def _certificate_in(pem: str) -> Any:
    from cryptography import x509  # noqa: PLC0415

    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None


def _thumbprint(certificate: Any) -> str:
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    return str(certificate.fingerprint(hashes.SHA1()).hex().upper())  # noqa: S303 - Entra's id


def _key_identifier(certificate: Any) -> str:
    return base64.b64encode(bytes.fromhex(_thumbprint(certificate))).decode("ascii")


def _key_credential(certificate: Any, display_name: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        # Set by us (the SHA-1 thumbprint), so a later run recognises its own certificate.
        "customKeyIdentifier": _key_identifier(certificate),
        "displayName": display_name,
        "key": base64.b64encode(der).decode("ascii"),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    }


def _make_certificate(subject: str, now: dt.datetime, days: int) -> tuple[str, str, Any]:
    """A new RSA key and a self-signed certificate for it: (key PEM, certificate PEM, cert)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    start = now.replace(microsecond=0) - dt.timedelta(minutes=5)
    key, certificate = self_signed_certificate(
        subject, start, start + dt.timedelta(days=days), end_entity=True
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return key_pem, cert_pem, certificate
