"""The one retry layer of the handler: capped exponential backoff bounded by a deadline.

The SDK's own RetryHandler is switched off (graph.py): it re-sends a POST after a 503 even
when the server committed it, and it sleeps without knowing our deadline. Here every retry
is deadline-aware, honours Retry-After, and the caller decides what a retry re-checks first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from entra_saml_app.errors import GraphError, Step, StepFailed
from entra_saml_app.logs import log

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Retrier:
    deadline: float
    base_seconds: float = 1.0
    max_seconds: float = 30.0
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    # How long a token request refused with AADSTS70021 is retried: Entra documents that a
    # new federated credential can fail so for several minutes and asks for retries.
    propagation_seconds: float = 300.0

    async def run(
        self,
        step: Step,
        call: Callable[[], Awaitable[T]],
        *,
        fresh_until: float | None = None,
        also_retry: Callable[[GraphError], bool] | None = None,
    ) -> T:
        """`call()` until it succeeds, fails for good, or the deadline would pass.

        While the object is fresh (`fresh_until`), 404 and 400 mean "not replicated yet".
        """
        started = self.clock()
        attempt = 0
        while True:
            try:
                return await call()
            except GraphError as error:
                waited = self.clock() - started
                delay = self._delay(error, attempt, waited, fresh_until, also_retry)
                if delay is None:
                    raise StepFailed(step, error) from error
                if self.clock() + delay > self.deadline:
                    raise StepFailed(step, error, gave_up_after=self.clock() - started) from error
                log(
                    "retry",
                    purpose=step.purpose,
                    call=error.call,
                    status=error.status,
                    code=error.code,
                    delay=round(delay, 2),
                )
                await self.sleep(delay)
                attempt += 1

    def _delay(
        self,
        error: GraphError,
        attempt: int,
        waited: float,
        fresh_until: float | None,
        also_retry: Callable[[GraphError], bool] | None,
    ) -> float | None:
        if error.transient and error.retry_after is not None:
            return float(error.retry_after)
        replicating = (
            error.status in (400, 404)
            and not error.identifier_uri_conflict
            and fresh_until is not None
            and self.clock() < fresh_until
        )
        if replicating:
            # Waiting out replication: each pause at most a tenth of the time waited so far,
            # so the object is seen within ~10% of the moment it replicated (a doubling
            # backoff could overshoot by almost half of it).
            return min(self.max_seconds, max(self.base_seconds, 0.1 * waited))
        propagating = error.federated_credential_propagating and waited < self.propagation_seconds
        if error.transient or propagating or (also_retry is not None and also_retry(error)):
            return min(self.max_seconds, self.base_seconds * 2.0**attempt)
        return None
