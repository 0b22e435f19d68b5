"""Narrow retries at the edges: transient Kafka and PostgreSQL errors only, never business logic.

Jittered exponential backoff, bounded in attempts; what remains after the bound is the caller's
to handle (the worker pauses consumption instead of dead-lettering healthy messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg
from confluent_kafka import KafkaError, KafkaException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    if isinstance(error, psycopg.OperationalError):
        # Connection refused/lost, admin shutdown, serialization failure, deadlock: all are
        # OperationalError subclasses and all succeed when simply tried again later.
        return True
    if isinstance(error, KafkaException) and error.args:
        first = error.args[0]
        return isinstance(first, KafkaError) and bool(
            first.retriable()
            or first.code()
            in {
                KafkaError._TRANSPORT,
                KafkaError._ALL_BROKERS_DOWN,
                KafkaError._TIMED_OUT,
                KafkaError._MSG_TIMED_OUT,
            }
        )
    return isinstance(error, TimeoutError | ConnectionError)


def retry_transient(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    max_wait_s: float = 2.0,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(error, state.attempt_number)

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.05, max=max_wait_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(call)
