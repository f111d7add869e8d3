"""An in-memory GraphPort and a fake clock, for fast tests of service.py's decisions."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from entra_saml_app.certificates import UploadedCertificate
from entra_saml_app.errors import GraphError
from entra_saml_app.service import (
    ApplicationPatch,
    ApplicationState,
    AppRole,
    AssignmentState,
    NewApplication,
    ServicePrincipalPatch,
    ServicePrincipalState,
    SigningKey,
)

USER_ROLE = AppRole("18d14569-c3bd-439b-9a66-3a2aee01d14f", "User")
START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """Monotonic seconds and wall time that move only when the code under test sleeps."""

    seconds: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.seconds += delay


@dataclass
class FakeGraph:
    """Applications, service principals and assignments in dicts; `writes` logs every
    write call; `faults` maps a method name to errors to raise, one per call, first."""

    clock: FakeClock
    apps: dict[str, ApplicationState] = field(default_factory=dict)
    deleted: dict[str, ApplicationState] = field(default_factory=dict)
    sps: dict[str, ServicePrincipalState] = field(default_factory=dict)
    assignments: dict[str, list[AssignmentState]] = field(default_factory=dict)
    faults: dict[str, list[GraphError]] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    # -- seeding and inspection ------------------------------------------------------------

    def seed(self, display_name: str, *, tags: tuple[str, ...] = (), age_days: int = 0) -> str:
        made = self._make(display_name, self.clock.now() - timedelta(days=age_days))
        self.apps[made.object_id] = replace(self.apps[made.object_id], tags=tags)
        return made.object_id

    def sp_of(self, object_id: str) -> ServicePrincipalState:
        app_id = self.apps[object_id].app_id
        return next(sp for sp in self.sps.values() if sp.app_id == app_id)

    def fail(self, method: str, *errors: GraphError) -> None:
        self.faults.setdefault(method, []).extend(errors)

    def _check(self, method: str, *, write: bool = False) -> None:
        if write:
            self.writes.append(method)
        queued = self.faults.get(method)
        if queued:
            raise queued.pop(0)

    def _make(self, display_name: str, created: datetime) -> NewApplication:
        object_id, app_id, sp_id = (str(uuid.uuid4()) for _ in range(3))
        self.apps[object_id] = ApplicationState(object_id, app_id, display_name, created=created)
        self.sps[sp_id] = ServicePrincipalState(
            sp_id, app_id, display_name, assignment_required=True, app_roles=(USER_ROLE,)
        )
        self.assignments[sp_id] = []
        return NewApplication(object_id, app_id, sp_id, self.apps[object_id], self.sps[sp_id])

    # -- GraphPort -------------------------------------------------------------------------

    async def instantiate(self, template_id: str, display_name: str) -> NewApplication:  # noqa: ARG002
        self._check("instantiate", write=True)
        return self._make(display_name, self.clock.now())

    async def list_applications(
        self,
        *,
        tag: str | None = None,
        display_name: str | None = None,
        identifier_uri: str | None = None,
    ) -> list[ApplicationState]:
        self._check("list_applications")
        return [
            app
            for app in self.apps.values()
            if (tag is None or tag in app.tags)
            and (display_name is None or app.display_name == display_name)
            and (identifier_uri is None or identifier_uri in app.identifier_uris)
        ]

    async def get_application(self, object_id: str) -> ApplicationState:
        self._check("get_application")
        if object_id not in self.apps:
            raise GraphError(404, "Request_ResourceNotFound", object_id)
        return self.apps[object_id]

    async def update_application(self, object_id: str, patch: ApplicationPatch) -> None:
        self._check("update_application", write=True)
        app = self.apps[object_id]
        uris = patch.get("identifier_uris")
        holders = [a for a in [*self.apps.values(), *self.deleted.values()] if a is not app]
        if uris and any(set(uris) & set(a.identifier_uris) for a in holders):
            raise GraphError(400, "Request_BadRequest", "same value for property identifierUris")
        web = patch.get("web")
        self.apps[object_id] = replace(
            app,
            display_name=patch.get("display_name", app.display_name),
            tags=tuple(patch.get("tags", app.tags)),
            notes=patch.get("notes", app.notes),
            identifier_uris=tuple(uris) if uris is not None else app.identifier_uris,
            redirect_uris=tuple(web["redirect_uris"]) if web else app.redirect_uris,
            logout_url=web["logout_url"] if web else app.logout_url,
            group_membership_claims=patch.get(
                "group_membership_claims", app.group_membership_claims
            ),
        )

    async def delete_application(self, object_id: str) -> None:
        self._check("delete_application", write=True)
        if object_id not in self.apps:
            raise GraphError(404, "Request_ResourceNotFound", object_id)
        app = self.apps.pop(object_id)
        self.deleted[object_id] = app
        for sp_id, sp in list(self.sps.items()):
            if sp.app_id == app.app_id:
                del self.sps[sp_id]

    async def get_service_principal(self, object_id: str) -> ServicePrincipalState:
        self._check("get_service_principal")
        if object_id not in self.sps:
            raise GraphError(404, "Request_ResourceNotFound", object_id)
        return self.sps[object_id]

    async def find_service_principal(self, app_id: str) -> ServicePrincipalState | None:
        self._check("find_service_principal")
        return next((sp for sp in self.sps.values() if sp.app_id == app_id), None)

    async def update_service_principal(self, object_id: str, patch: ServicePrincipalPatch) -> None:
        self._check("update_service_principal", write=True)
        sp = self.sps[object_id]
        self.sps[object_id] = replace(
            sp,
            display_name=patch.get("display_name", sp.display_name),
            sso_mode=patch.get("preferred_single_sign_on_mode", sp.sso_mode),
            assignment_required=patch.get("app_role_assignment_required", sp.assignment_required),
            notes=patch.get("notes", sp.notes),
            preferred_thumbprint=patch.get(
                "preferred_token_signing_key_thumbprint", sp.preferred_thumbprint
            ),
            relay_state=patch.get("relay_state", sp.relay_state),
        )

    async def add_token_signing_certificate(
        self,
        service_principal_id: str,
        display_name: str,  # noqa: ARG002 (the port's signature)
        end: datetime,
    ) -> SigningKey:
        self._check("add_token_signing_certificate", write=True)
        serial = str(next(self._counter)).encode()
        key = SigningKey(hashlib.sha1(serial, usedforsecurity=False).hexdigest().upper(), end)
        sp = self.sps[service_principal_id]
        self.sps[service_principal_id] = replace(sp, signing_keys=(*sp.signing_keys, key))
        return key

    async def upload_signing_certificate(
        self, service_principal_id: str, certificate: UploadedCertificate
    ) -> SigningKey:
        self._check("upload_signing_certificate", write=True)
        key = SigningKey(certificate.thumbprint, certificate.end)
        sp = self.sps[service_principal_id]
        self.sps[service_principal_id] = replace(sp, signing_keys=(*sp.signing_keys, key))
        return key

    async def list_assignments(self, service_principal_id: str) -> list[AssignmentState]:
        self._check("list_assignments")
        return list(self.assignments[service_principal_id])

    async def assign(self, service_principal_id: str, principal_id: str, app_role_id: str) -> None:
        self._check("assign", write=True)
        assignment = AssignmentState(str(uuid.uuid4()), principal_id, app_role_id)
        self.assignments[service_principal_id].append(assignment)

    async def unassign(self, service_principal_id: str, assignment_id: str) -> None:
        self._check("unassign", write=True)
        self.assignments[service_principal_id] = [
            a for a in self.assignments[service_principal_id] if a.assignment_id != assignment_id
        ]

    async def list_deleted_applications(self, identifier_uri: str) -> list[ApplicationState]:
        self._check("list_deleted_applications")
        return [a for a in self.deleted.values() if identifier_uri in a.identifier_uris]

    async def purge_deleted_application(self, object_id: str) -> None:
        self._check("purge_deleted_application", write=True)
        del self.deleted[object_id]


@dataclass
class FakeMetadata:
    """Serves whatever thumbprints a test sets."""

    served: frozenset[str] = frozenset()

    async def signing_thumbprints(self, url: str) -> frozenset[str]:  # noqa: ARG002
        return self.served
