"""The anchors topic: one partition, retained for ever, never compacted.

`cleanup.policy=delete` with `retention.ms=-1` and `retention.bytes=-1` keeps every anchor; a
compacted topic would let a producer replace an anchor by writing its key again. Deny the
application's Kafka principal DeleteRecords and AlterConfigs on this topic (README, "Exports
and anchors") and nobody who holds only the application's credentials can remove an anchor;
a forged one fails its signature.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import admin as kafka_admin
from confluent_kafka.admin import AdminClient

__all__ = [
    "ANCHOR_TOPIC_CONFIG",
    "AnchorTopicError",
    "ensure_anchor_topic",
    "latest_anchor",
    "publish_anchor",
]

NewTopic = kafka_admin.NewTopic  # type: ignore[attr-defined]

MAX_ANCHOR_BYTES: Final = 64 * 1024 * 1024
ANCHOR_TOPIC_CONFIG: Final = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "max.message.bytes": str(MAX_ANCHOR_BYTES),
}
TIMEOUT_S: Final = 30.0

_QUIET = logging.getLogger("saga.archive.kafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


# `security`: the librdkafka TLS/SASL properties (orchestrator.security.kafka_client_security).
_PLAIN: Final[Mapping[str, Any]] = MappingProxyType({})


class AnchorTopicError(Exception):
    """The anchors topic could not be created, written or read."""


def ensure_anchor_topic(
    bootstrap: str, topic: str, replication_factor: int, security: Mapping[str, Any] = _PLAIN
) -> None:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, **security, "logger": _QUIET}
    admin = AdminClient(config)
    spec = NewTopic(topic, 1, replication_factor, config=dict(ANCHOR_TOPIC_CONFIG))
    for name, future in admin.create_topics([spec], request_timeout=TIMEOUT_S).items():
        try:
            future.result(TIMEOUT_S)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise AnchorTopicError(f"cannot create anchors topic {name}: {error}") from None


def publish_anchor(
    bootstrap: str, topic: str, value: bytes, security: Mapping[str, Any] = _PLAIN
) -> int:
    """Write one anchor and wait until the broker has it; its offset."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            **security,
            "logger": _QUIET,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "zstd",
            "message.max.bytes": MAX_ANCHOR_BYTES,
        }
    )
    outcome: dict[str, Any] = {}

    def delivered(error: KafkaError | None, message: Any) -> None:
        outcome["error"] = error
        outcome["offset"] = None if message is None else message.offset()

    producer.produce(topic, value=value, on_delivery=delivered)
    producer.flush(TIMEOUT_S)
    if "error" not in outcome:
        raise AnchorTopicError(f"anchor not acknowledged by {topic} within {TIMEOUT_S:.0f} s")
    if outcome["error"] is not None:
        raise AnchorTopicError(f"anchor not written to {topic}: {outcome['error'].str()}")
    return int(outcome["offset"])


def latest_anchor(
    bootstrap: str, topic: str, security: Mapping[str, Any] = _PLAIN
) -> tuple[int, bytes] | None:
    """The offset and value of the newest message of the anchors topic, None if it has none."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            **security,
            "logger": _QUIET,
            "group.id": "saga-anchor-reader",
            "enable.auto.commit": False,
            "fetch.max.bytes": MAX_ANCHOR_BYTES + 1024 * 1024,
            "max.partition.fetch.bytes": MAX_ANCHOR_BYTES + 1024 * 1024,
            "receive.message.max.bytes": MAX_ANCHOR_BYTES + 2 * 1024 * 1024,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT_S)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            return None
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
        if high <= low:
            return None
        consumer.assign([TopicPartition(topic, 0, high - 1)])
        message = consumer.poll(TIMEOUT_S)
        if message is None:
            raise AnchorTopicError(f"the newest anchor of {topic} was not delivered in time")
        if message.error() is not None:
            raise AnchorTopicError(f"reading {topic}: {message.error()}")
        return int(message.offset() or 0), bytes(message.value() or b"")
    except KafkaException as exc:
        raise AnchorTopicError(f"reading {topic}: {exc.args[0]}") from None
    finally:
        consumer.close()
