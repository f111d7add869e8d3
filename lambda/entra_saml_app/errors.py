"""Errors, and the short, actionable reasons CloudFormation shows for them."""

from __future__ import annotations

import re
from dataclasses import dataclass

APP_PERMISSION = "Application.ReadWrite.All"
ASSIGNMENT_PERMISSION = "AppRoleAssignment.ReadWrite.All"
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


class ProvisioningError(Exception):
    """A failure whose message is the reason CloudFormation shows: short and actionable."""


@dataclass(frozen=True)
class Step:
    """One step of the provisioning sequence, and the Graph permission it needs."""

    purpose: str
    permission: str = APP_PERMISSION


class GraphError(Exception):
    """A failed Graph (or token endpoint) call; `status` None means no HTTP answer."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str = "",
        *,
        call: str = "",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{call} -> {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.call = call
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT_STATUSES

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def identifier_uri_conflict(self) -> bool:
        return self.status in (400, 409) and "identifierUris" in self.message

    @property
    def federated_credential_propagating(self) -> bool:
        """Entra's answer while a new federated identity credential propagates (the colon
        keeps AADSTS700211 and its siblings out)."""
        return self.code == "TokenRequestFailed" and "AADSTS70021:" in self.message

    @property
    def reference_not_replicated(self) -> bool:
        """appRoleAssignedTo's 400 while a principal it names has not replicated yet."""
        return self.status == 400 and "Not a valid reference update" in self.message

    @property
    def already_exists(self) -> bool:
        return self.status in (400, 409) and "already exists" in self.message


class StepFailed(ProvisioningError):
    """A Graph step that failed for good, or kept failing until the deadline."""

    def __init__(
        self, step: Step, error: GraphError, *, gave_up_after: float | None = None
    ) -> None:
        super().__init__(f"{step.purpose}: {error}")
        self.step = step
        self.error = error
        self.gave_up_after = gave_up_after

    def explain(self, tenant_id: str, client_id: str, sign_in_advice: str | None = None) -> str:
        """The CloudFormation reason: the step, Graph's answer, and what to do about it.
        `sign_in_advice` says what to check when Entra refuses the credential itself."""
        error = self.error
        answer = f"{error.status} {error.code}" if error.status else f"no answer ({error.code})"
        purpose = "get a Microsoft Graph token" if self._token_failure else self.step.purpose
        head = f"Could not {purpose}: {error.call or 'Graph'} -> {answer}"
        return redact(f"{head}. {self._advice(tenant_id, client_id, sign_in_advice)}")[:900]

    @property
    def _token_failure(self) -> bool:
        return self.error.code == "TokenRequestFailed"

    def _advice(self, tenant_id: str, client_id: str, sign_in_advice: str | None) -> str:
        error = self.error
        if error.status == 403:
            return (
                f"The automation app {client_id} lacks admin consent for the Microsoft Graph "
                f"application permission {self.step.permission} in tenant {tenant_id} (the "
                f"handler needs {APP_PERMISSION} and {ASSIGNMENT_PERMISSION}): grant admin "
                "consent under App registrations > API permissions, then retry."
            )
        if error.status == 401 or self._token_failure:
            check = sign_in_advice or "check tenantId, clientId and the credential in the secret."
            return (
                f"Could not authenticate as {client_id} in tenant {tenant_id}: {check} "
                f"{_short(error.message)}"
            )
        if self.gave_up_after is not None:
            return (
                f"Still failing after {self.gave_up_after:.0f}s of retries "
                f"({_short(error.message)}). "
                "Entra is slow to replicate or is throttling: retry the deployment."
            )
        return _short(error.message) or "See the Lambda log for the request."


def redact(text: str, *secrets: str | None) -> str:
    """Text without bearer tokens or the given secret values."""
    text = _JWT.sub("[token]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text


def _short(message: str, limit: int = 240) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
