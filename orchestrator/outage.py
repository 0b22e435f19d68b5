"""Is it the dependency or the message? One answer for the worker, the relay, the participant SDK
and sagactl, over the errors of every driver the orchestrator uses (psycopg, confluent-kafka,
the schema registry) and of its own layers (event store, Kafka layer).

Two questions, two functions:
- `is_transient`: worth asking again soon. No answer yet (a timeout, a refused or lost
  connection, the registry out of reach), or a Kafka error a broker returns only while it
  starts or moves a partition leader or group coordinator.
- `is_outage`: a dependency, or our access to it, is unwell, so the work is kept and retried
  (consumption paused) and nothing healthy is dead-lettered. Every transient error, and more:
  a PostgreSQL failover to a read-only standby, a missing grant or table after a bad deploy,
  an unacknowledged publication. Only data the database rejects (DataError, IntegrityError) or
  the store refuses (InvalidEventError) is the message's fault.
"""

from __future__ import annotations

from typing import Final, Literal

import psycopg
from confluent_kafka import KafkaError, KafkaException

from event_store import EventStoreError, InvalidEventError
from orchestrator.codec import RegistryUnavailableError
from orchestrator.kafka import DeadLetterError, PublishError

__all__ = [
    "TRANSIENT_KAFKA_CODES",
    "TRANSIENT_KAFKA_NAMES",
    "Dependency",
    "dependency_of",
    "describe",
    "is_outage",
    "is_transient",
    "kafka_error",
]

Dependency = Literal["postgres", "kafka", "registry"]

# Kafka errors that a broker which is starting, electing or loading returns for a while, and
# the client-side ones for "no answer yet". Named after confluent_kafka.KafkaError.
TRANSIENT_KAFKA_CODES: Final = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_CONTROLLER,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_COORDINATOR,
    }
)
TRANSIENT_KAFKA_NAMES: Final = frozenset(KafkaError(code).name() for code in TRANSIENT_KAFKA_CODES)


def kafka_error(error: BaseException) -> KafkaError | None:
    """The KafkaError a confluent-kafka exception carries, if it carries one."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return error.args[0]
    return None


def is_transient(error: BaseException) -> bool:
    kafka = kafka_error(error)
    if kafka is not None:
        return kafka.code() in TRANSIENT_KAFKA_CODES or bool(kafka.retriable())
    # Connection refused/lost, admin shutdown, serialization failure, deadlock: all are
    # psycopg OperationalError subclasses and all succeed when simply tried again later.
    # concurrent.futures.TimeoutError is TimeoutError since Python 3.11.
    return isinstance(
        error,
        TimeoutError | ConnectionError | psycopg.OperationalError | RegistryUnavailableError,
    )


def is_outage(error: BaseException) -> bool:
    if isinstance(error, RegistryUnavailableError | PublishError | DeadLetterError):
        return True
    if isinstance(error, psycopg.Error):
        return not isinstance(error, psycopg.DataError | psycopg.IntegrityError)
    if isinstance(error, EventStoreError):
        return not isinstance(error, InvalidEventError)
    return is_transient(error)


def dependency_of(error: BaseException) -> Dependency:
    """Which dependency an outage is of (health and the transient-errors metric say so)."""
    if isinstance(error, RegistryUnavailableError):
        return "registry"
    if isinstance(error, psycopg.Error | EventStoreError):
        return "postgres"
    return "kafka"


def describe(error: BaseException) -> str:
    """One line for an operator: the Kafka error's name and text, or the first line."""
    kafka = kafka_error(error)
    if kafka is not None:
        return f"{kafka.name()}: {kafka.str()}"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
