"""Idempotent provisioning of an Entra non-gallery SAML application, against a small Graph port.

Every operation converges: it reads what Entra holds, writes only what differs, and can be
re-run from any point. A no-op update therefore makes no write call.

Ownership and adoption (how a retried Create never leaves a duplicate)
----------------------------------------------------------------------
`instantiate` accepts nothing but a display name, so an application is created under the
*pending name* `cognito-entra-sso pending <digest>`, where the digest hashes the stack id
and the logical id. One PATCH then sets the real display name and adds the *owner tag*
`cognito-entra-sso:<digest>` together, so at every instant the application carries one of
the two marks. Create first lists the applications holding the tag or the pending name:

- found: adopt the oldest (tagged ones first) and delete the others, which can only be
  ours (no person names an app after a SHA-256 digest);
- none: instantiate. The SDK's retry of a POST is off; our retry of a 429/5xx/network
  failure lists again before re-sending, so a committed-but-failed instantiate is adopted.

Graph's lists lag behind writes, so a committed instantiate can still be missed and a twin
made: the IsComplete poll that finds the app ready (the Provider always polls after a
successful Create) ends with a sweep that deletes any app with our marks other than the
one kept. An unmarked app with the user's display name is never touched: nothing
distinguishes it from one a person made. A Create that fails with an error (rather than a
crash) deletes what it made, because the Provider framework never sends the Delete for a
failed Create; a crash leaves the app marked, and the next Create adopts it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, TypedDict, TypeVar

from entra_saml_app.certificates import UploadedCertificate, self_signed, starting_now
from entra_saml_app.errors import (
    ASSIGNMENT_PERMISSION,
    GraphError,
    ProvisioningError,
    Step,
    StepFailed,
)
from entra_saml_app.logs import log, warn
from entra_saml_app.metadata import MetadataNotReady, metadata_url
from entra_saml_app.model import AppProperties, Owner, is_guid
from entra_saml_app.retry import Retrier

T = TypeVar("T")

DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"
USER_ROLE_NAME = "User"
CERTIFICATE_SUBJECT = "CN=Microsoft Azure Federated SSO Certificate"
RENEW_BEFORE = timedelta(days=30)
# A new signing key is relied on once this many reads in a row have returned it: the azuread
# provider's wait after addTokenSigningCertificate (ContinuousTargetOccurence: 5), in
# hashicorp/terraform-provider-azuread:internal/services/serviceprincipals/service_principal_token_signing_certificate_resource.go  # noqa: E501
KEY_READS_IN_A_ROW = 5
# instantiate has been reported to answer 404 for a moment (docs/FIDELITY.md: unverified);
# retried this often, so that a wrong template id still fails within seconds.
INSTANTIATE_404_ATTEMPTS = 4
# appRoleAssignedTo answers 400 "Not a valid reference update" while a principal it names
# replicates; the azuread provider retries it (hashicorp/terraform-provider-azuread:
# internal/services/approleassignments/app_role_assignment_resource.go). Bounded so:
REFERENCE_REPLICATION_SECONDS = 120.0

FIND = Step("find the applications this resource owns")
INSTANTIATE = Step("find or instantiate the SAML application")
READ_APP = Step("read the application")
READ_SP = Step("read the service principal")
CLAIM = Step("name and tag the application")
CLAIM_AND_URLS = Step("name and tag the application and set its identifier and reply URLs")
CONFIGURE_SP = Step("enable SAML single sign-on on the service principal")
CONFIGURE_URLS = Step("set the identifier and reply URLs")
CONFIGURE_GROUP_CLAIMS = Step("set the groups claim (groupMembershipClaims)")
FIND_DELETED = Step("list deleted applications holding the identifier URI")
PURGE = Step("permanently delete our deleted application")
ADD_CERTIFICATE = Step("add a token signing certificate")
UPLOAD_CERTIFICATE = Step("upload a token signing certificate (keyCredentials)")
READ_BACK_CERTIFICATE = Step("read the new token signing certificate back")
ACTIVATE_CERTIFICATE = Step("activate the token signing certificate")
LIST_ASSIGNMENTS = Step("list user and group assignments", ASSIGNMENT_PERMISSION)
ASSIGN = Step("assign a user or group", ASSIGNMENT_PERMISSION)
UNASSIGN = Step("remove a user or group assignment", ASSIGNMENT_PERMISSION)
DELETE = Step("delete the application")
READ_RELAY_STATE = Step("read the service principal's relay state")
SET_RELAY_STATE = Step("set the relay state (samlSingleSignOnSettings.relayState)")
CLEAR_RELAY_STATE = Step("clear the relay state (samlSingleSignOnSettings.relayState)")


@dataclass(frozen=True)
class ApplicationState:
    object_id: str
    app_id: str
    display_name: str
    tags: tuple[str, ...] = ()
    notes: str | None = None
    identifier_uris: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    logout_url: str | None = None
    created: datetime | None = None
    group_membership_claims: str | None = None


@dataclass(frozen=True)
class SigningKey:
    thumbprint: str
    end: datetime


@dataclass(frozen=True)
class AppRole:
    role_id: str
    display_name: str
    member_types: tuple[str, ...] = ("User",)
    enabled: bool = True


@dataclass(frozen=True)
class ServicePrincipalState:
    object_id: str
    app_id: str
    display_name: str
    sso_mode: str | None = None
    assignment_required: bool = False
    notes: str | None = None
    preferred_thumbprint: str | None = None
    signing_keys: tuple[SigningKey, ...] = ()
    app_roles: tuple[AppRole, ...] = ()
    relay_state: str | None = None


@dataclass(frozen=True)
class AssignmentState:
    assignment_id: str
    principal_id: str
    app_role_id: str


@dataclass(frozen=True)
class NewApplication:
    object_id: str
    app_id: str
    service_principal_id: str
    # The objects as instantiate answered them, when it did: no read-back is needed then.
    application: ApplicationState | None = None
    service_principal: ServicePrincipalState | None = None


class WebPatch(TypedDict):
    redirect_uris: list[str]
    logout_url: str | None


class ApplicationPatch(TypedDict, total=False):
    display_name: str
    tags: list[str]
    notes: str | None
    identifier_uris: list[str]
    web: WebPatch
    group_membership_claims: str


class ServicePrincipalPatch(TypedDict, total=False):
    display_name: str
    preferred_single_sign_on_mode: str
    app_role_assignment_required: bool
    notes: str | None
    preferred_token_signing_key_thumbprint: str
    relay_state: str | None  # samlSingleSignOnSettings.relayState; None clears it


class GraphPort(Protocol):
    """The Graph calls the service makes; each raises GraphError on failure."""

    async def instantiate(self, template_id: str, display_name: str) -> NewApplication: ...

    async def list_applications(
        self,
        *,
        tag: str | None = None,
        display_name: str | None = None,
        identifier_uri: str | None = None,
    ) -> list[ApplicationState]: ...

    async def get_application(self, object_id: str) -> ApplicationState: ...

    async def update_application(self, object_id: str, patch: ApplicationPatch) -> None: ...

    async def delete_application(self, object_id: str) -> None: ...

    async def get_service_principal(self, object_id: str) -> ServicePrincipalState: ...

    async def find_service_principal(self, app_id: str) -> ServicePrincipalState | None: ...

    async def update_service_principal(
        self, object_id: str, patch: ServicePrincipalPatch
    ) -> None: ...

    async def add_token_signing_certificate(
        self, service_principal_id: str, display_name: str, end: datetime
    ) -> SigningKey: ...

    async def upload_signing_certificate(
        self, service_principal_id: str, certificate: UploadedCertificate
    ) -> SigningKey: ...

    async def list_assignments(self, service_principal_id: str) -> list[AssignmentState]: ...

    async def assign(
        self, service_principal_id: str, principal_id: str, app_role_id: str
    ) -> None: ...

    async def unassign(self, service_principal_id: str, assignment_id: str) -> None: ...

    async def list_deleted_applications(self, identifier_uri: str) -> list[ApplicationState]: ...

    async def purge_deleted_application(self, object_id: str) -> None: ...


class MetadataSource(Protocol):
    async def signing_thumbprints(self, url: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class Provisioned:
    application_object_id: str
    app_id: str
    service_principal_id: str
    metadata_url: str
    signing_thumbprint: str
    signing_expiry: datetime


@dataclass
class _Target:
    """The application being worked on, and until when Graph may not know it yet.

    `made` is set when this invocation instantiated it: its `application` and
    `service_principal` are the state instantiate answered, and the service principal has
    no assignments yet.
    """

    object_id: str
    app_id: str
    service_principal_id: str | None
    fresh_until: float | None
    made: NewApplication | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SamlAppService:
    graph: GraphPort
    metadata: MetadataSource
    retrier: Retrier
    template_id: str
    login_authority: str
    replication_seconds: float = 300.0
    now: Callable[[], datetime] = field(default=_utcnow)
    clock: Callable[[], float] = field(default=time.monotonic)
    # In a cloud without addTokenSigningCertificate: make the certificate here and upload it.
    upload_certificates: bool = False

    # -- CloudFormation operations -------------------------------------------------------

    async def create(self, owner: Owner, props: AppProperties) -> Provisioned:
        # No duplicate sweep here: isComplete sweeps once Graph and the metadata serve the
        # app, later than any sweep here could, so lagging lists are likelier caught up.
        target = await self._adopt_or_instantiate(owner)
        try:
            return await self._converge(target, owner, props, dropped=frozenset())
        except Exception:
            await self._discard(target.object_id, reason="create failed")
            raise

    async def update(
        self,
        owner: Owner,
        physical_id: str | None,
        props: AppProperties,
        old: AppProperties | None,
        old_tenant_id: str | None,
    ) -> Provisioned:
        if old_tenant_id is not None and old_tenant_id.lower() != props.tenant_id:
            log("replace", reason="tenant changed", tenant=props.tenant_id)
            return await self.create(owner, props)
        app = await self._existing_application(physical_id)
        if app is None:
            log("recreate", reason="application gone", physical_id=physical_id)
            return await self.create(owner, props)
        target = _Target(app.object_id, app.app_id, None, self._fresh_until(app.created))
        dropped = (old.principal_ids if old else frozenset()) - props.principal_ids
        return await self._converge(target, owner, props, dropped=dropped, app=app)

    async def delete(self, physical_id: str | None) -> None:
        if not is_guid(physical_id):
            log("delete skipped", reason="no application was created", physical_id=physical_id)
            return
        object_id = str(physical_id)
        try:
            await self.retrier.run(DELETE, lambda: self.graph.delete_application(object_id))
        except StepFailed as failure:
            if not failure.error.not_found:
                raise
            log("delete", object_id=object_id, result="already gone")
            return
        log("delete", object_id=object_id, result="deleted")

    async def confirm(self, owner: Owner, answered: Provisioned) -> Provisioned | None:
        """isComplete's last step, once the metadata serves `answered`'s certificate.

        The metadata alone could still come from a cache after someone deleted the app, so
        Graph must serve the application too; then the duplicate sweep runs. Anything Graph
        answers other than 401/403 means "not yet".
        """
        try:
            app = await self.graph.get_application(answered.application_object_id)
        except GraphError as error:
            if error.status in (401, 403):
                raise StepFailed(READ_APP, error) from error
            return _not_ready(f"Graph {error.status} {error.code}")
        await self._sweep(owner, keep=app.object_id)
        return answered

    async def readiness(
        self, owner: Owner, physical_id: str, props: AppProperties
    ) -> Provisioned | None:
        """The description once Graph and the metadata URL both serve the app, else None.

        For an isComplete event without onEvent's full Data (one from an earlier version):
        everything is read back from Graph.
        """
        try:
            app = await self.graph.get_application(physical_id)
            sp = await self.graph.find_service_principal(app.app_id)
            if sp is not None:  # by id: a list leaves out the certificates (keyCredentials.key)
                sp = await self.graph.get_service_principal(sp.object_id)
        except GraphError as error:
            if error.status in (401, 403):
                raise StepFailed(READ_APP, error) from error
            return _not_ready(f"Graph {error.status} {error.code}")
        key = _active_key(sp, self.now(), margin=timedelta(0)) if sp else None
        if sp is None or key is None:
            return _not_ready("service principal or its active signing key not visible yet")
        await self._sweep(owner, keep=app.object_id)
        url = metadata_url(self.login_authority, props.tenant_id, app.app_id)
        if not await metadata_serves(self.metadata, url, key.thumbprint):
            return None
        return self._describe(app, sp, key, props)

    # -- finding or making the application -----------------------------------------------

    async def _adopt_or_instantiate(self, owner: Owner) -> _Target:
        async def attempt() -> _Target:
            owned = await self._owned(owner)
            if owned:
                keep, *extra = owned
                for app in extra:
                    await self._discard(app.object_id, reason="duplicate")
                log("adopt", object_id=keep.object_id, app_id=keep.app_id)
                return _Target(keep.object_id, keep.app_id, None, self._fresh_until(keep.created))
            made = await self.graph.instantiate(self.template_id, owner.pending_name)
            log("instantiate", object_id=made.object_id, app_id=made.app_id)
            fresh_until = self.clock() + self.replication_seconds
            return _Target(
                made.object_id, made.app_id, made.service_principal_id, fresh_until, made
            )

        not_found = 0

        def instantiate_404(error: GraphError) -> bool:
            nonlocal not_found  # a lasting 404 is a wrong template id: fail, naming it
            not_found += error.not_found
            return error.not_found and not_found < INSTANTIATE_404_ATTEMPTS

        return await self.retrier.run(INSTANTIATE, attempt, also_retry=instantiate_404)

    async def _owned(self, owner: Owner) -> list[ApplicationState]:
        """Applications carrying our tag or our pending name: tagged first, oldest first."""
        tagged = await self.graph.list_applications(tag=owner.tag)
        pending = await self.graph.list_applications(display_name=owner.pending_name)
        unique = {app.object_id: app for app in [*tagged, *pending]}
        latest = datetime.max.replace(tzinfo=UTC)
        return sorted(unique.values(), key=lambda a: (owner.tag not in a.tags, a.created or latest))

    async def _existing_application(self, physical_id: str | None) -> ApplicationState | None:
        if not is_guid(physical_id):
            return None
        object_id = str(physical_id)
        try:
            return await self.retrier.run(READ_APP, lambda: self.graph.get_application(object_id))
        except StepFailed as failure:
            if failure.error.not_found:
                return None
            raise

    async def _sweep(self, owner: Owner, *, keep: str) -> None:
        try:
            owned = await self._owned(owner)
        except GraphError as error:
            warn("sweep skipped", status=error.status, code=error.code)
            return
        for app in owned:
            if app.object_id != keep:
                await self._discard(app.object_id, reason="duplicate")

    async def _discard(self, object_id: str, *, reason: str) -> None:
        """Best effort: a failure here must not hide the failure that led here."""
        try:
            await self.graph.delete_application(object_id)
            log("discard", object_id=object_id, reason=reason)
        except GraphError as error:
            warn("discard failed", object_id=object_id, status=error.status, code=error.code)

    # -- converging the application to the properties ------------------------------------

    async def _converge(
        self,
        target: _Target,
        owner: Owner,
        props: AppProperties,
        *,
        dropped: frozenset[str],
        app: ApplicationState | None = None,
    ) -> Provisioned:
        if app is None and target.made is not None:
            app = target.made.application
        if app is None:
            app = await self._step(READ_APP, target, self.graph.get_application, target.object_id)
        # A freshly instantiated app is claimed by the URL PATCH itself (Microsoft's one
        # application PATCH): until then its pending name marks it for adoption.
        claim = _claim_patch(app, owner, props) if target.made is not None else None
        if claim is None:
            await self._claim(target, app, owner, props)
        sp = await self._read_service_principal(target)
        await self._configure_service_principal(target, sp, props)
        await self._configure_urls(target, app, owner, props, claim or {})
        await self._configure_group_claims(target, app, props)
        key = await self._ensure_signing_key(target, sp, props)
        await self._sync_assignments(target, sp, props, dropped)
        return self._describe(app, sp, key, props)

    async def _claim(
        self, target: _Target, app: ApplicationState, owner: Owner, props: AppProperties
    ) -> None:
        patch = _claim_patch(app, owner, props)
        if patch:
            await self._step(CLAIM, target, self.graph.update_application, app.object_id, patch)

    async def _read_service_principal(self, target: _Target) -> ServicePrincipalState:
        if target.made is not None and target.made.service_principal is not None:
            return target.made.service_principal
        sp_id = target.service_principal_id
        if sp_id is not None:
            return await self._step(READ_SP, target, self.graph.get_service_principal, sp_id)

        async def by_app_id() -> ServicePrincipalState:
            sp = await self.graph.find_service_principal(target.app_id)
            if sp is None:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    f"no service principal has appId {target.app_id}",
                    call="GET /servicePrincipals?$filter=appId eq ...",
                )
            # By id: a list leaves out the certificates (keyCredentials.key), and an
            # uploaded certificate is known by its certificate only.
            return await self.graph.get_service_principal(sp.object_id)

        sp = await self.retrier.run(READ_SP, by_app_id, fresh_until=target.fresh_until)
        target.service_principal_id = sp.object_id
        return sp

    async def _configure_service_principal(
        self, target: _Target, sp: ServicePrincipalState, props: AppProperties
    ) -> None:
        patch: ServicePrincipalPatch = {}
        if sp.display_name != props.display_name:
            patch["display_name"] = props.display_name
        if sp.sso_mode != "saml":
            patch["preferred_single_sign_on_mode"] = "saml"
        if sp.assignment_required != props.assignment_required:
            patch["app_role_assignment_required"] = props.assignment_required
        if sp.notes != props.notes:
            patch["notes"] = props.notes
        if patch:
            update = self.graph.update_service_principal
            await self._step(CONFIGURE_SP, target, update, sp.object_id, patch)

    async def _configure_urls(
        self,
        target: _Target,
        app: ApplicationState,
        owner: Owner,
        props: AppProperties,
        claim: ApplicationPatch,
    ) -> None:
        patch: ApplicationPatch = {**claim}
        if list(app.identifier_uris) != [props.identifier_uri]:
            patch["identifier_uris"] = [props.identifier_uri]
        if list(app.redirect_uris) != [props.reply_url] or app.logout_url != props.logout_url:
            patch["web"] = {"redirect_uris": [props.reply_url], "logout_url": props.logout_url}
        if not patch:
            return
        released = False

        async def update() -> None:
            nonlocal released
            try:
                await self.graph.update_application(app.object_id, patch)
            except GraphError as error:
                if error.identifier_uri_conflict and not released:
                    await self._release_identifier_uri(props.identifier_uri, owner, app.object_id)
                    released = True
                raise

        await self.retrier.run(
            CLAIM_AND_URLS if claim else CONFIGURE_URLS,
            update,
            fresh_until=target.fresh_until,
            # A purged app frees its identifier URI only once the purge has replicated.
            also_retry=lambda error: released and error.identifier_uri_conflict,
        )

    async def _configure_group_claims(
        self, target: _Target, app: ApplicationState, props: AppProperties
    ) -> None:
        # Graph reports null for an application that never set the property: the same as
        # "None". The declared value always wins, also over a change made in the portal.
        wanted = props.group_membership_claims
        if _same_claims(app.group_membership_claims, wanted):
            return
        patch: ApplicationPatch = {"group_membership_claims": wanted}
        update = self.graph.update_application
        await self._step(CONFIGURE_GROUP_CLAIMS, target, update, app.object_id, patch)
        log("group claims", group_membership_claims=wanted)

    async def _release_identifier_uri(self, uri: str, owner: Owner, keep: str) -> None:
        """Purge our own soft-deleted app holding `uri`; explain any other holder."""
        deleted = await self.retrier.run(
            FIND_DELETED, lambda: self.graph.list_deleted_applications(uri)
        )
        ours = [app for app in deleted if _is_ours(app, owner)]
        for app in ours:
            await self.retrier.run(
                PURGE, partial(self.graph.purge_deleted_application, app.object_id)
            )
            log("purge", object_id=app.object_id, reason="held our identifier URI")
        if ours:
            return
        if deleted:
            holder = deleted[0]
            raise ProvisioningError(
                f"Identifier URI {uri} is held by the deleted application "
                f"'{holder.display_name}' (object id {holder.object_id}), which this stack did "
                "not create. Delete it permanently (Entra admin center > App registrations > "
                f"Deleted applications, or DELETE /directory/deletedItems/{holder.object_id}), "
                "then retry the deployment."
            )
        live = await self.retrier.run(
            FIND, lambda: self.graph.list_applications(identifier_uri=uri)
        )
        holders = [app for app in live if app.object_id != keep]
        if holders:
            raise ProvisioningError(
                f"Identifier URI {uri} is already used by application "
                f"'{holders[0].display_name}' (appId {holders[0].app_id}). Remove the URI from "
                "that application or delete it, then retry the deployment."
            )

    async def _ensure_signing_key(
        self, target: _Target, sp: ServicePrincipalState, props: AppProperties
    ) -> SigningKey:
        now = self.now()
        # Any unexpired active certificate stays, whoever activated it: activating a new one
        # here would break sign-in until Cognito's metadata cache (up to 6 hours) caught up,
        # and would undo `mobile-sso rotate-certificate`. Renewal is that command's job.
        active = _active_key(sp, now, margin=timedelta(0))
        if active is not None:
            if active.end - now <= RENEW_BEFORE:
                warn("certificate expires soon", thumbprint=active.thumbprint, expires=active.end)
            return active
        # A key added by a run that stopped before activating it is reused, not doubled.
        key = _newest_usable_key(sp, now)
        if key is None:
            key = await self._add_certificate(target, sp, props, now)
            await self._read_back(target, sp.object_id, key)
        patch: ServicePrincipalPatch = {"preferred_token_signing_key_thumbprint": key.thumbprint}
        update = self.graph.update_service_principal
        await self._step(ACTIVATE_CERTIFICATE, target, update, sp.object_id, patch)
        log("certificate activated", thumbprint=key.thumbprint)
        return key

    async def _add_certificate(
        self, target: _Target, sp: ServicePrincipalState, props: AppProperties, now: datetime
    ) -> SigningKey:
        end = _years_after(now, props.certificate_validity_years)
        sent = False

        async def add() -> SigningKey:
            nonlocal sent
            if sent:  # the last attempt may have been carried out without an answer
                current = await self.graph.get_service_principal(sp.object_id)
                landed = _newest_usable_key(current, now)
                if landed is not None:
                    return landed
            sent = True
            if uploaded is not None:
                return await self.graph.upload_signing_certificate(sp.object_id, uploaded)
            return await self.graph.add_token_signing_certificate(
                sp.object_id, CERTIFICATE_SUBJECT, end
            )

        step = ADD_CERTIFICATE
        uploaded: UploadedCertificate | None = None
        if self.upload_certificates:
            step = UPLOAD_CERTIFICATE
            uploaded = self_signed(CERTIFICATE_SUBJECT, starting_now(now), end)
        key = await self.retrier.run(step, add, fresh_until=target.fresh_until)
        log("certificate added", thumbprint=key.thumbprint, expires=key.end)
        return key

    async def _read_back(self, target: _Target, sp_id: str, key: SigningKey) -> None:
        """Wait until KEY_READS_IN_A_ROW reads in a row return the new key: a replica that
        has not seen it yet would refuse its activation."""
        retrier, in_a_row = self.retrier, 0
        started = retrier.clock()
        while True:
            sp = await self._step(
                READ_BACK_CERTIFICATE, target, self.graph.get_service_principal, sp_id
            )
            seen = any(k.thumbprint == key.thumbprint for k in sp.signing_keys)
            in_a_row = in_a_row + 1 if seen else 0
            if in_a_row >= KEY_READS_IN_A_ROW:
                return
            if retrier.clock() + retrier.base_seconds > retrier.deadline:
                raise StepFailed(
                    READ_BACK_CERTIFICATE,
                    GraphError(
                        404,
                        "KeyNotReplicated",
                        f"certificate {key.thumbprint} was returned by only {in_a_row} of the "
                        f"last reads in a row, short of {KEY_READS_IN_A_ROW}",
                        call="GET /servicePrincipals/{id}",
                    ),
                    gave_up_after=retrier.clock() - started,
                )
            await retrier.sleep(retrier.base_seconds)

    async def _sync_assignments(
        self,
        target: _Target,
        sp: ServicePrincipalState,
        props: AppProperties,
        dropped: frozenset[str],
    ) -> None:
        if not props.assignments and not dropped:
            return
        if target.made is not None:
            existing: list[AssignmentState] = []  # instantiated by this invocation
        else:
            existing = await self._step(
                LIST_ASSIGNMENTS, target, self.graph.list_assignments, sp.object_id
            )
        assigned = {a.principal_id.lower() for a in existing}
        role_id = _assignment_role_id(sp)
        for principal in props.assignments:
            if principal.principal_id not in assigned:
                await self._assign(target, sp.object_id, principal.principal_id, role_id)
        for assignment in existing:
            if assignment.principal_id.lower() in dropped:
                unassign = self.graph.unassign
                await self._step(UNASSIGN, target, unassign, sp.object_id, assignment.assignment_id)
                log("unassign", principal_id=assignment.principal_id)

    async def _assign(self, target: _Target, sp_id: str, principal_id: str, role_id: str) -> None:
        until = self.clock() + REFERENCE_REPLICATION_SECONDS

        async def assign() -> None:
            try:
                await self.graph.assign(sp_id, principal_id, role_id)
            except GraphError as error:
                if not error.already_exists:  # a lagging list hid an earlier assignment
                    raise

        def replicating(error: GraphError) -> bool:
            return error.reference_not_replicated and self.clock() < until

        await self.retrier.run(
            ASSIGN, assign, fresh_until=target.fresh_until, also_retry=replicating
        )
        log("assign", principal_id=principal_id)

    # -- helpers ---------------------------------------------------------------------------

    async def _step(
        self,
        step: Step,
        target: _Target,
        call: Callable[..., Awaitable[T]],
        *args: object,
    ) -> T:
        return await self.retrier.run(step, partial(call, *args), fresh_until=target.fresh_until)

    def _fresh_until(self, created: datetime | None) -> float | None:
        """A just-made object may be unknown to some replicas; an old one is simply gone."""
        if created is None:
            return self.clock() + self.replication_seconds
        remaining = self.replication_seconds - (self.now() - created).total_seconds()
        return self.clock() + remaining if remaining > 0 else None

    def _describe(
        self,
        app: ApplicationState,
        sp: ServicePrincipalState,
        key: SigningKey,
        props: AppProperties,
    ) -> Provisioned:
        return Provisioned(
            application_object_id=app.object_id,
            app_id=app.app_id,
            service_principal_id=sp.object_id,
            metadata_url=metadata_url(self.login_authority, props.tenant_id, app.app_id),
            signing_thumbprint=key.thumbprint,
            signing_expiry=key.end,
        )


@dataclass
class RelayStateService:
    """Converges one service principal's samlSingleSignOnSettings.relayState.

    The relay state is what Entra posts along with an IdP-initiated response (the My Apps
    tile). It cannot be part of the application's own resource: the value names the Cognito
    app client, which exists only after the identity provider made from that application.
    """

    graph: GraphPort
    retrier: Retrier
    replication_seconds: float = 300.0
    clock: Callable[[], float] = field(default=time.monotonic)

    async def put(self, service_principal_id: str, relay_state: str) -> None:
        # The id comes from the application's resource, which completed only once Graph
        # served the service principal; a replica may still lag behind for a while.
        fresh_until = self.clock() + self.replication_seconds
        try:
            sp = await self.retrier.run(
                READ_RELAY_STATE,
                partial(self.graph.get_service_principal, service_principal_id),
                fresh_until=fresh_until,
            )
        except StepFailed as failure:
            if failure.error.not_found:
                raise ProvisioningError(
                    f"Service principal {service_principal_id} does not exist in the tenant: "
                    "ServicePrincipalId must be the Custom::EntraSamlApplication resource's "
                    "Data.ServicePrincipalId (Fn::GetAtt), in the same tenant."
                ) from failure
            raise
        if sp.relay_state == relay_state:
            log("relay state", service_principal_id=service_principal_id, result="unchanged")
            return
        await self.retrier.run(
            SET_RELAY_STATE,
            partial(self._write, service_principal_id, relay_state),
            also_retry=lambda error: error.not_found and self.clock() < fresh_until,
        )
        log("relay state", service_principal_id=service_principal_id, result="set")

    async def clear(self, service_principal_id: str) -> None:
        """Clear the relay state; a service principal already gone counts as cleared."""
        try:
            sp = await self.retrier.run(
                READ_RELAY_STATE, partial(self.graph.get_service_principal, service_principal_id)
            )
            if not sp.relay_state:
                log("relay state", service_principal_id=service_principal_id, result="not set")
                return
            await self.retrier.run(
                CLEAR_RELAY_STATE, partial(self._write, service_principal_id, None)
            )
        except StepFailed as failure:
            if not failure.error.not_found:
                raise
            log("relay state", service_principal_id=service_principal_id, result="already gone")
            return
        log("relay state", service_principal_id=service_principal_id, result="cleared")

    async def _write(self, service_principal_id: str, relay_state: str | None) -> None:
        patch: ServicePrincipalPatch = {"relay_state": relay_state}
        await self.graph.update_service_principal(service_principal_id, patch)


async def metadata_serves(source: MetadataSource, url: str, thumbprint: str) -> bool:
    """Whether the metadata document Cognito will read names the active certificate."""
    try:
        served = await source.signing_thumbprints(url)
    except MetadataNotReady as reason:
        _not_ready(f"metadata: {reason}")
        return False
    if thumbprint.upper() not in served:
        _not_ready("metadata does not serve the active signing certificate yet")
        return False
    return True


def _claim_patch(app: ApplicationState, owner: Owner, props: AppProperties) -> ApplicationPatch:
    """What marks the app as this resource's: its display name, owner tag and provenance."""
    patch: ApplicationPatch = {}
    if app.display_name != props.display_name:
        patch["display_name"] = props.display_name
    if owner.tag not in app.tags:
        patch["tags"] = [*app.tags, owner.tag]
    if app.notes != owner.provenance:
        patch["notes"] = owner.provenance
    return patch


def _is_ours(app: ApplicationState, owner: Owner) -> bool:
    return owner.tag in app.tags or app.display_name == owner.pending_name


def _same_claims(current: str | None, wanted: str) -> bool:
    def canonical(value: str | None) -> str:
        return (value or "None").replace(" ", "").casefold()

    return canonical(current) == canonical(wanted)


def _assignment_role_id(sp: ServicePrincipalState) -> str:
    """The template's "User" role; the default-access id only for an app without roles.

    Graph accepts the all-zero default-access id only when the app declares no app roles,
    and the non-gallery template declares "User" and "msiam_access".
    """
    for role in sp.app_roles:
        if role.enabled and role.display_name == USER_ROLE_NAME and "User" in role.member_types:
            return role.role_id
    return DEFAULT_ACCESS_ROLE_ID


def _active_key(
    sp: ServicePrincipalState, now: datetime, *, margin: timedelta
) -> SigningKey | None:
    preferred = (sp.preferred_thumbprint or "").upper()
    for key in sp.signing_keys:
        if key.thumbprint == preferred and key.end - now > margin:
            return key
    return None


def _newest_usable_key(sp: ServicePrincipalState, now: datetime) -> SigningKey | None:
    usable = [key for key in sp.signing_keys if key.end - now > RENEW_BEFORE]
    return max(usable, key=lambda key: key.end) if usable else None


def _years_after(moment: datetime, years: int) -> datetime:
    # One day short of the full term: the service measures its 3-year limit from its own
    # clock, which may run a little behind ours.
    try:
        later = moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        later = moment.replace(year=moment.year + years, day=28)
    return later - timedelta(days=1)


def _not_ready(reason: str) -> Provisioned | None:
    log("not ready", reason=reason)
    return None
