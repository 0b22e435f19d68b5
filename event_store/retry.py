"""Which database errors are worth retrying, and how long to keep trying.

Only transient conditions are retried: the connection was lost, the server is shutting down or
restarting, or PostgreSQL aborted the transaction so that it may be run again (serialization
failure, deadlock). Everything else, business errors above all, surfaces at once. Retrying an
append is safe because appends are idempotent by message id (see PostgresEventStore.append_batch
for the ambiguous "connection lost after COMMIT" case).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
import tenacity
from psycopg_pool import PoolTimeout

__all__ = ["RetryPolicy", "is_transient", "retrying"]

_log = logging.getLogger("event_store")

# SQLSTATEs after which running the same transaction again can succeed.
_TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (server starting up or in recovery)
        "53300",  # too_many_connections
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff: waits grow from `initial_wait` up to `max_wait`."""

    max_attempts: int = 6
    initial_wait: float = 0.05
    max_wait: float = 2.0


def is_transient(exc: BaseException) -> bool:
    # PoolTimeout has already waited for a connection as long as it was told to.
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, PoolTimeout):
        return False
    sqlstate = exc.sqlstate
    # No SQLSTATE: the client lost the connection (reset, closed, timed out).
    # Class 08: connection exceptions reported by the server or libpq.
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES


def _log_retry(state: tenacity.RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    _log.warning("transient database error, retrying (attempt %d): %s", state.attempt_number, error)


def retrying(policy: RetryPolicy) -> tenacity.Retrying:
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
        before_sleep=_log_retry,
        reraise=True,
    )
