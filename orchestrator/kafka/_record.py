"""A consumed Kafka record as a typed value: converted once at the edge, so the rest of the
runtime never handles librdkafka's Optional-everything Message object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int  # -1 when the broker gave none

    @classmethod
    def from_message(cls, message: Message) -> ConsumedRecord:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError("a consumed Kafka message always has topic, partition and offset")
        timestamp_type, timestamp = message.timestamp()
        raw_headers = message.headers() or []
        pairs = list(raw_headers.items()) if isinstance(raw_headers, dict) else raw_headers
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=_as_bytes(message.key()),
            value=_as_bytes(message.value()),
            headers=[(name, _as_bytes(value) or b"") for name, value in pairs],
            timestamp_ms=timestamp if timestamp_type else -1,
        )

    def header(self, name: str) -> str | None:
        """Last value of a header, decoded as UTF-8 (the orchestrator's headers are text)."""
        for key, value in reversed(self.headers):
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def coordinates(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode()


def records_of(messages: Sequence[Message]) -> tuple[list[ConsumedRecord], list[KafkaError]]:
    """The records of a consumed batch, and the errors the client reported in it (partition
    ends left out: they are not errors). A fatal error is raised: the client cannot recover,
    so the process should exit and be restarted."""
    records: list[ConsumedRecord] = []
    errors: list[KafkaError] = []
    for message in messages:
        error = message.error()
        if error is None:
            records.append(ConsumedRecord.from_message(message))
        elif error.fatal():
            raise KafkaException(error)
        elif error.code() != KafkaError._PARTITION_EOF:
            errors.append(error)
    return records, errors


def consume_batch(consumer: Consumer, max_messages: int, wait_s: float) -> list[Message]:
    """Wait up to `wait_s` for the first message, then take what is already buffered.

    `Consumer.consume(n, timeout)` returns early only once it has n messages, so under light
    load every hop would cost the whole timeout; polling for one and draining the local queue
    gives low latency when idle and full batches under load.
    """
    first = consumer.poll(wait_s)
    if first is None:
        return []
    if max_messages == 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, timeout=0)]


def store_offsets(consumer: Consumer, records: Sequence[ConsumedRecord]) -> None:
    """Store, per partition, the offset after the highest record handled. Called only once the
    records' effects are durable; the consumer's auto-commit then commits what is stored."""
    highest: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        highest[key] = max(highest.get(key, -1), record.offset)
    consumer.store_offsets(
        offsets=[TopicPartition(t, p, offset + 1) for (t, p), offset in highest.items()]
    )
