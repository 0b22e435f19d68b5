"""Only transient database errors are retried."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from event_store._retry import RetryPolicy, is_transient, retrying


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        errors.AdminShutdown(),
        errors.SerializationFailure(),
        errors.DeadlockDetected(),
        errors.CannotConnectNow(),
        errors.ConnectionFailure(),
    ],
)
def test_transient_errors(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.UniqueViolation(),
        errors.InsufficientPrivilege(),
        errors.QueryCanceled(),
        PoolTimeout("no connection"),
        ValueError("business"),
    ],
)
def test_errors_that_are_not_retried(error: Exception) -> None:
    assert not is_transient(error)


def test_retries_are_bounded() -> None:
    calls = 0

    def always_failing() -> None:
        nonlocal calls
        calls += 1
        raise errors.AdminShutdown()

    with pytest.raises(errors.AdminShutdown):
        retrying(RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.002))(always_failing)
    assert calls == 3


def test_a_transient_failure_then_success() -> None:
    outcomes: list[Exception | str] = [errors.SerializationFailure(), "done"]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(RetryPolicy(initial_wait=0.001))(flaky) == "done"
