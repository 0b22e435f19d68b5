"""Whether a parked saga's dead letters are still where its SagaParked events say: the Kafka
side of the audit's SETTLED invariant (a parked saga is settled only while its message waits
in a dead-letter topic for a redrive)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from confluent_kafka import Consumer, TopicPartition

from orchestrator import headers as h
from orchestrator.forensics._invariants import DeadLetterToFind, Invariant, Violation

__all__ = ["missing_dead_letters"]

TIMEOUT_S: Final = 10.0

_QUIET = logging.getLogger("saga.forensics.dead-letters")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def missing_dead_letters(
    connection: Mapping[str, Any], wanted: Iterable[DeadLetterToFind]
) -> Iterator[Violation]:
    """A SETTLED violation for each dead letter not in its topic at its offset, or whose
    message there belongs to another saga. Reads each message once; commits nothing.
    `connection` is the librdkafka connection of the configured clients (bootstrap servers
    and security), so the audit reads a secured cluster as the worker does."""
    wanted = list(wanted)
    if not wanted:
        return
    consumer = Consumer(
        {
            **connection,
            "logger": _QUIET,
            # Never committed, so the group only names the reader in the broker's logs.
            "group.id": f"saga-audit-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        topics = consumer.list_topics(timeout=TIMEOUT_S).topics
        for item in wanted:
            reason = _absence(consumer, topics, item)
            if reason is not None:
                yield Violation(
                    item.saga_id,
                    Invariant.SETTLED,
                    None,
                    f"parked on {item.topic}/{item.partition}@{item.offset}, but {reason}",
                )
    finally:
        consumer.close()


def _absence(consumer: Consumer, topics: dict[str, Any], item: DeadLetterToFind) -> str | None:
    described = topics.get(item.topic)
    if described is None or described.error is not None:
        return "that topic does not exist"
    if item.partition not in described.partitions:
        return f"the topic has no partition {item.partition}"
    partition = TopicPartition(item.topic, item.partition, item.offset)
    low, high = consumer.get_watermark_offsets(partition, timeout=TIMEOUT_S)
    if not low <= item.offset < high:
        return f"the partition holds offsets {low} to {high - 1} only: the message is gone"
    consumer.assign([partition])
    try:
        message = consumer.poll(TIMEOUT_S)
    finally:
        consumer.unassign()
    if message is None or message.error() is not None or message.offset() != item.offset:
        return "its message could not be read there"
    owner = _saga_of(message)
    if owner is not None and owner != item.saga_id:
        return f"the message there belongs to saga {owner}"
    return None


def _saga_of(message: Any) -> str | None:
    for key, value in message.headers() or []:
        if key == h.SAGA_ID and value is not None:
            return bytes(value).decode("utf-8", "replace")
    key = message.key()
    return None if key is None else bytes(key).decode("utf-8", "replace")
