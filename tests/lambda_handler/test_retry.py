"""retry.py: when to retry a Graph call, how long to wait, and when to give up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from entra_saml_app.errors import GraphError, Step, StepFailed
from entra_saml_app.retry import Retrier

from tests.lambda_handler.fake_graph import FakeClock

STEP = Step("do the thing")


def failing(*errors: GraphError) -> Callable[[], Awaitable[str]]:
    queue = list(errors)

    async def call() -> str:
        if queue:
            raise queue.pop(0)
        return "done"

    return call


def retrier(clock: FakeClock, deadline: float = 100.0) -> Retrier:
    return Retrier(deadline, 1.0, 4.0, clock=clock.monotonic, sleep=clock.sleep)


def test_retry_after_is_waited_exactly() -> None:
    clock = FakeClock()
    throttled = GraphError(429, "TooManyRequests", retry_after=7)

    result = asyncio.run(retrier(clock).run(STEP, failing(throttled, throttled)))

    assert result == "done"
    assert clock.slept == [7, 7]


def test_backoff_doubles_up_to_the_cap() -> None:
    clock = FakeClock()
    unavailable = GraphError(503, "ServiceUnavailable")

    asyncio.run(retrier(clock).run(STEP, failing(*[unavailable] * 5)))

    assert clock.slept == [1, 2, 4, 4, 4]


def test_network_failure_is_retried() -> None:
    clock = FakeClock()

    asyncio.run(retrier(clock).run(STEP, failing(GraphError(None, "ConnectError"))))

    assert clock.slept == [1]


def test_bad_request_is_not_retried_unless_the_object_is_fresh() -> None:
    clock = FakeClock()
    bad = GraphError(400, "Request_BadRequest", "Invalid value")

    with pytest.raises(StepFailed) as failure:
        asyncio.run(retrier(clock).run(STEP, failing(bad)))
    fresh = asyncio.run(retrier(clock).run(STEP, failing(bad), fresh_until=10.0))

    assert failure.value.error is bad
    assert failure.value.gave_up_after is None
    assert fresh == "done"


def test_identifier_uri_conflict_is_never_taken_for_replication_lag() -> None:
    clock = FakeClock()
    conflict = GraphError(400, "Request_BadRequest", "same value for property identifierUris")

    with pytest.raises(StepFailed, match=r"-> 400 Request_BadRequest: same value for property"):
        asyncio.run(retrier(clock).run(STEP, failing(conflict), fresh_until=10.0))

    assert clock.slept == []


def test_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    clock = FakeClock()
    throttled = GraphError(429, "TooManyRequests", retry_after=30)

    with pytest.raises(StepFailed, match=r"-> 429 TooManyRequests") as failure:
        asyncio.run(retrier(clock, deadline=45.0).run(STEP, failing(throttled, throttled)))

    assert clock.slept == [30]
    assert failure.value.gave_up_after == 30


def test_waiting_for_replication_pauses_at_most_a_tenth_of_the_time_waited() -> None:
    clock = FakeClock()
    missing = GraphError(404, "Request_ResourceNotFound")
    patient = Retrier(1000.0, 1.0, 30.0, clock=clock.monotonic, sleep=clock.sleep)

    asyncio.run(patient.run(STEP, failing(*[missing] * 40), fresh_until=1000.0))

    waited = 0.0
    for pause in clock.slept:
        assert pause <= max(1.0, 0.1 * waited) + 1e-9
        waited += pause
    assert clock.slept[:10] == [1.0] * 10  # the first ten seconds: the base pause
    assert clock.slept[-1] > 1.0  # then it grows with the wait


def token_refusal(code: str) -> GraphError:
    message = f"{code}: No matching federated identity record found for presented assertion."
    return GraphError(401, "TokenRequestFailed", message, call="POST .../oauth2/v2.0/token")


def test_aadsts70021_is_retried_while_the_credential_may_still_propagate() -> None:
    clock = FakeClock()
    refused = token_refusal("AADSTS70021")

    result = asyncio.run(retrier(clock).run(STEP, failing(refused, refused)))

    assert result == "done"
    assert clock.slept == [1.0, 2.0]


def test_aadsts70021_fails_once_the_propagation_window_is_over() -> None:
    clock = FakeClock()
    slow = Retrier(100.0, 1.0, 4.0, clock=clock.monotonic, sleep=clock.sleep)
    slow.propagation_seconds = 2.0

    with pytest.raises(StepFailed, match="AADSTS70021"):
        asyncio.run(slow.run(STEP, failing(*[token_refusal("AADSTS70021")] * 5)))

    assert sum(clock.slept) >= 2.0


def test_a_mismatched_federated_credential_is_not_taken_for_propagation() -> None:
    # AADSTS700211 (issuer) starts with the same digits; waiting cannot fix it.
    clock = FakeClock()

    with pytest.raises(StepFailed, match="AADSTS700211"):
        asyncio.run(retrier(clock).run(STEP, failing(token_refusal("AADSTS700211"))))

    assert clock.slept == []
