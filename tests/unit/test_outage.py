"""One classification of failures for every component: the dependency's fault (keep the work,
retry, pause) or the message's (dead-letter it)."""

from __future__ import annotations

import psycopg
import pytest
from confluent_kafka import KafkaError, KafkaException

from event_store import ConcurrencyError, InvalidEventError, PayloadTooLargeError
from orchestrator.codec import RegistryUnavailableError
from orchestrator.kafka import DeadLetterError, PublishError
from orchestrator.outage import dependency_of, describe, is_outage, is_transient


def kafka(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (psycopg.OperationalError("connection refused"), "postgres"),
        (psycopg.errors.ReadOnlySqlTransaction("standby"), "postgres"),
        (psycopg.errors.InsufficientPrivilege("no grant"), "postgres"),
        (psycopg.errors.UndefinedTable("bad deploy"), "postgres"),
        (ConcurrencyError("s", 1, 2), "postgres"),
        (RegistryUnavailableError("registry down"), "registry"),
        (PublishError("1 unacknowledged"), "kafka"),
        (DeadLetterError("not acknowledged"), "kafka"),
        (kafka(KafkaError._TRANSPORT), "kafka"),
        (kafka(KafkaError.LEADER_NOT_AVAILABLE), "kafka"),
        (kafka(KafkaError.NOT_COORDINATOR), "kafka"),
        (TimeoutError(), "kafka"),
    ],
)
def test_a_dependency_that_is_unwell_is_an_outage(error: BaseException, dependency: str) -> None:
    assert is_outage(error)
    assert dependency_of(error) == dependency


@pytest.mark.parametrize(
    "error",
    [
        psycopg.DataError("value too long"),
        psycopg.IntegrityError("duplicate key"),
        InvalidEventError("bad event"),
        PayloadTooLargeError("too large"),
        kafka(KafkaError.TOPIC_AUTHORIZATION_FAILED),
        ValueError("a bug in a handler"),
    ],
)
def test_what_the_data_or_the_code_got_wrong_is_not_an_outage(error: BaseException) -> None:
    assert not is_outage(error)
    assert not is_transient(error)


def test_transient_is_what_succeeds_when_simply_asked_again() -> None:
    assert is_transient(psycopg.OperationalError("lost"))
    assert is_transient(RegistryUnavailableError("down"))
    assert is_transient(kafka(KafkaError._MSG_TIMED_OUT))
    assert is_transient(kafka(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
    # An outage that waiting alone does not end (a missing grant) is not transient.
    assert not is_transient(psycopg.errors.InsufficientPrivilege("no grant"))


def test_an_error_is_described_in_one_line() -> None:
    assert describe(kafka(KafkaError._TRANSPORT)).startswith("_TRANSPORT: ")
    assert describe(TimeoutError()) == "no answer (timed out)"
    assert describe(ValueError("first\nsecond")) == "first"
