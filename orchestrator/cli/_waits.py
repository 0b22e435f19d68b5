"""Bounded waits for sagactl: poll until something is ready, retry what is transient, and give
up after a deadline with one line on stderr and exit status 3 (a dependency did not answer).

Why the demo needs them: a broker that has just started for the first time answers metadata
requests seconds before its group coordinator has created and loaded `__consumer_offsets`.
Until then admin calls about groups time out or fail with COORDINATOR_NOT_AVAILABLE,
COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR; a second later they succeed. Anything else
(an authorisation failure, a bad request) is not retried: it is a problem, said in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaException
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_random_exponential,
)

from orchestrator.cli._output import EXIT_PROBLEM, EXIT_UNREACHABLE, fail
from orchestrator.outage import describe, is_transient

T = TypeVar("T")


class NotReadyError(Exception):
    """What a probe raises while the thing waited for is not ready; the message says what it
    saw, and becomes the reason given if the wait runs out."""


def wait_until(
    what: str,
    probe: Callable[[], T],
    *,
    within_s: float,
    poll_s: float = 0.2,
    max_backoff_s: float = 2.0,
) -> T:
    """Call `probe` until it returns, and return its result. While it raises NotReadyError it is
    polled every `poll_s`; a transient error is retried with jittered exponential backoff (up
    to `max_backoff_s`). No attempt starts after `within_s`: then one line naming `what` and
    the last thing seen, exit 3. A non-transient Kafka error ends the wait at once (exit 1);
    any other exception (a click error, say) propagates unchanged."""
    backoff = wait_random_exponential(multiplier=poll_s, max=max_backoff_s)

    def pause(state: RetryCallState) -> float:
        failed = state.outcome.exception() if state.outcome is not None else None
        return poll_s if isinstance(failed, NotReadyError) else backoff(state)

    retrying = Retrying(
        retry=retry_if_exception(
            lambda error: isinstance(error, NotReadyError) or is_transient(error)
        ),
        stop=stop_before_delay(within_s),
        wait=pause,
    )
    try:
        return retrying(probe)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        seen = describe(last) if last is not None else "no result"
        raise fail(f"{what}: not within {within_s:g}s ({seen})", EXIT_UNREACHABLE) from None
    except KafkaException as exc:
        raise fail(f"{what}: Kafka refused: {describe(exc)}", EXIT_PROBLEM) from None
