"""Dead-letter publishing: `<topic>.dlt`, same partition, original key/value/headers plus error
headers named as Kafka Connect and Spring Kafka name theirs.

`publish` returns only once the broker acknowledged the dead letter, because the caller stores
the original offset right after: a dead letter that is lost after its offset moved on would be
a silently dropped message (invariant 5).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from orchestrator import headers as h
from orchestrator.kafka._record import ConsumedRecord, Headers
from orchestrator.kafka._topics import dead_letter_topic

# A stack trace is diagnostic, not data: bounded so a deep recursion cannot make the dead
# letter itself too large to publish.
MAX_STACKTRACE_BYTES = 8_192
MAX_ERROR_MESSAGE_BYTES = 2_048


class DeadLetterError(Exception):
    """The dead letter was not acknowledged; the original offset must not be stored."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    original_topic: str
    original_partition: int
    original_offset: int
    reason: str


def _clip(text: str, limit: int) -> bytes:
    data = text.encode("utf-8", errors="replace")
    return data if len(data) <= limit else data[: limit - 3] + b"..."


def dead_letter_headers(
    record: ConsumedRecord, error: BaseException, *, consumer_group: str, attempts: int, reason: str
) -> Headers:
    original = [
        (key, value)
        for key, value in record.headers
        if not key.startswith("dlt.")  # a redriven message that fails again gets fresh ones
    ]
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return [
        *original,
        (h.DLT_ORIGINAL_TOPIC, record.topic.encode()),
        (h.DLT_ORIGINAL_PARTITION, str(record.partition).encode()),
        (h.DLT_ORIGINAL_OFFSET, str(record.offset).encode()),
        (h.DLT_ORIGINAL_TIMESTAMP, str(record.timestamp_ms).encode()),
        (h.DLT_CONSUMER_GROUP, consumer_group.encode()),
        (h.DLT_EXCEPTION_CLASS, f"{type(error).__module__}.{type(error).__qualname__}".encode()),
        (h.DLT_EXCEPTION_MESSAGE, _clip(f"{reason}: {error}", MAX_ERROR_MESSAGE_BYTES)),
        (h.DLT_EXCEPTION_STACKTRACE, _clip(stack, MAX_STACKTRACE_BYTES)),
        (h.DLT_ATTEMPTS, str(attempts).encode()),
    ]


class DeadLetterPublisher:
    def __init__(self, producer: Producer, consumer_group: str, *, timeout_s: float = 30.0):
        self._producer = producer
        self._consumer_group = consumer_group
        self._timeout_s = timeout_s

    def publish(
        self, record: ConsumedRecord, error: BaseException, *, reason: str, attempts: int = 1
    ) -> DeadLetter:
        done = threading.Event()
        outcome: list[KafkaError | Message | None] = []

        def on_delivery(err: KafkaError | None, delivered: Message) -> None:
            outcome.append(err if err is not None else delivered)
            done.set()

        try:
            self._produce(record, error, reason=reason, attempts=attempts, on_delivery=on_delivery)
        except (KafkaException, BufferError) as exc:
            # Queue full, or the client refused the record outright: nothing was sent, the
            # offset must not move; the caller retries (and alerts if it never succeeds).
            raise DeadLetterError(f"dead letter for {record.coordinates} not sent: {exc}") from exc
        self._producer.flush(self._timeout_s)
        result = outcome[0] if outcome else None
        if not done.is_set() or result is None or isinstance(result, KafkaError):
            raise DeadLetterError(
                f"dead letter for {record.coordinates} was not acknowledged: "
                f"{result or 'timed out'}"
            )
        delivered = ConsumedRecord.from_message(result)
        return DeadLetter(
            topic=delivered.topic,
            partition=delivered.partition,
            offset=delivered.offset,
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            reason=reason,
        )

    def _produce(
        self,
        record: ConsumedRecord,
        error: BaseException,
        *,
        reason: str,
        attempts: int,
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        self._producer.produce(
            dead_letter_topic(record.topic),
            key=record.key,
            value=record.value,
            partition=record.partition,
            headers=list[tuple[str, str | bytes | None]](
                dead_letter_headers(
                    record,
                    error,
                    consumer_group=self._consumer_group,
                    attempts=attempts,
                    reason=reason,
                )
            ),
            on_delivery=on_delivery,
        )
