"""Dead-letter topics for operators: list, show, redrive.

Reading never joins a consumer group and never commits: listing a dead-letter topic changes
nothing. Redrive sends the original key, value and headers back to the original topic with the
delivery-attempt header incremented, and tells the saga (a MessageRedriven control message on
its reply topic) so that the redrive is recorded as an event and the saga is unparked.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import (
    DEAD_LETTER_SUFFIX,
    ConsumedRecord,
    Headers,
    PublishError,
    producer_config,
    reader_config,
)
from orchestrator.observability import (
    extract_trace_context,
    inject_trace_context,
    record_redrive,
    send_span,
)
from orchestrator.saga import MessageRedriven, SagaRegistry


class DeadLetterNotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """A dead letter as an operator sees it."""

    topic: str
    partition: int
    offset: int
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    reason: str | None
    exception_class: str | None
    saga_id: str | None
    saga_type: str | None
    attempts: int
    timestamp_ms: int
    value_bytes: int

    @classmethod
    def of(cls, record: ConsumedRecord) -> DeadLetterView:
        def number(name: str) -> int | None:
            value = record.header(name)
            return int(value) if value is not None and value.lstrip("-").isdigit() else None

        message = record.header(h.DLT_EXCEPTION_MESSAGE) or ""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            original_topic=record.header(h.DLT_ORIGINAL_TOPIC),
            original_partition=number(h.DLT_ORIGINAL_PARTITION),
            original_offset=number(h.DLT_ORIGINAL_OFFSET),
            reason=message.split(":", 1)[0] if message else None,
            exception_class=record.header(h.DLT_EXCEPTION_CLASS),
            saga_id=record.header(h.SAGA_ID),
            saga_type=record.header(h.SAGA_TYPE),
            attempts=number(h.DLT_ATTEMPTS) or 1,
            timestamp_ms=record.timestamp_ms,
            value_bytes=len(record.value or b""),
        )


def _reader(settings: Settings) -> Consumer:
    return Consumer(reader_config(settings, group_id="sagactl-dlq-reader"))


def read_dead_letters(
    settings: Settings, topic: str, *, limit: int = 100, timeout_s: float = 10.0
) -> list[ConsumedRecord]:
    """Up to `limit` dead letters of `topic` (a `.dlt` topic), oldest first per partition."""
    if not topic.endswith(DEAD_LETTER_SUFFIX):
        raise ValueError(f"{topic} is not a dead-letter topic (no {DEAD_LETTER_SUFFIX} suffix)")
    consumer = _reader(settings)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise DeadLetterNotFoundError(f"topic {topic} does not exist")
        partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        consumer.assign(partitions)
        remaining = {tp.partition for tp in partitions}
        records: list[ConsumedRecord] = []
        while remaining and len(records) < limit:
            batch = consumer.consume(min(500, limit - len(records)), timeout=timeout_s)
            if not batch:
                break  # nothing more arrived within the timeout
            for message in batch:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition() or 0)
                    continue
                records.append(ConsumedRecord.from_message(message))
        return records[:limit]
    finally:
        consumer.close()


def read_one(
    settings: Settings, topic: str, partition: int, offset: int, *, timeout_s: float = 10.0
) -> ConsumedRecord:
    consumer = _reader(settings)
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline_batches = max(1, int(timeout_s))
        for _ in range(deadline_batches):
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    break
                continue
            record = ConsumedRecord.from_message(message)
            if record.offset == offset:
                return record
            break
        raise DeadLetterNotFoundError(f"no message at {topic}[{partition}]@{offset}")
    finally:
        consumer.close()


@dataclass(frozen=True, slots=True)
class Redrive:
    dead_letter: DeadLetterView
    to_topic: str
    delivery_attempt: int
    saga_notified: bool


def plan_redrive(record: ConsumedRecord) -> tuple[str, Headers, int]:
    """Where a dead letter goes back to, with which headers, as which delivery attempt."""
    original = record.header(h.DLT_ORIGINAL_TOPIC)
    if not original:
        raise DeadLetterNotFoundError(f"{record.coordinates} has no {h.DLT_ORIGINAL_TOPIC} header")
    previous = record.header(h.DELIVERY_ATTEMPT)
    attempt = (int(previous) if previous and previous.isdigit() else 1) + 1
    headers = [
        (key, value)
        for key, value in record.headers
        if not key.startswith("dlt.") and key != h.DELIVERY_ATTEMPT
    ]
    headers.append((h.DELIVERY_ATTEMPT, str(attempt).encode()))
    return original, headers, attempt


def redrive(
    settings: Settings,
    codec: Codec,
    registry: SagaRegistry,
    *,
    topic: str,
    partition: int,
    offset: int,
    actor: str,
    dry_run: bool = False,
) -> Redrive:
    record = read_one(settings, topic, partition, offset)
    view = DeadLetterView.of(record)
    to_topic, headers, attempt = plan_redrive(record)
    notify = view.saga_id is not None and view.original_partition is not None
    if dry_run:
        return Redrive(view, to_topic, attempt, saga_notified=False)
    producer = Producer(producer_config(settings, client_id="sagactl-dlq"))
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error)

    # The redrive continues the dead letter's trace (its headers kept the traceparent): a span
    # event says who sent it back, and both messages carry the new span's context.
    with send_span(
        topic=to_topic,
        key=record.key,
        context=extract_trace_context(record.headers),
        partition=view.original_partition,
    ) as span:
        record_redrive(span, actor=actor, dead_letter=record.coordinates, attempt=attempt)
        traced: Headers = []
        if span.is_recording():
            headers = inject_trace_context(headers)
            traced = [(k, v) for k, v in headers if k in (h.TRACEPARENT, h.TRACESTATE)]
        if notify and view.saga_id is not None:
            saga_type = view.saga_type or _saga_type_of(registry, view)
            if saga_type is not None:
                reply_topic = registry.get(saga_type).reply_topic
                redriven = MessageRedriven(
                    saga_id=view.saga_id,
                    topic=view.original_topic or to_topic,
                    partition=view.original_partition or 0,
                    offset=view.original_offset or 0,
                    actor=actor,
                )
                producer.produce(
                    reply_topic,
                    key=view.saga_id.encode(),
                    value=codec.encode(reply_topic, redriven),
                    headers=[
                        (h.MESSAGE_ID, f"redrive:{record.coordinates}:{attempt}"),
                        (h.SAGA_ID, view.saga_id),
                        (h.SAGA_TYPE, saga_type),
                        *traced,
                    ],
                    on_delivery=on_delivery,
                )
            else:
                notify = False
        producer.produce(
            to_topic,
            key=record.key,
            value=record.value,
            partition=view.original_partition if view.original_partition is not None else -1,
            headers=list[tuple[str, str | bytes | None]](headers),
            on_delivery=on_delivery,
        )
    remaining = producer.flush(30)
    if remaining or failures:
        raise PublishError(f"redrive not acknowledged: {failures[0] if failures else 'timeout'}")
    return Redrive(view, to_topic, attempt, saga_notified=notify)


def _saga_type_of(registry: SagaRegistry, view: DeadLetterView) -> str | None:
    """A dead letter without a saga_type header (garbage on a reply topic, say): the saga type
    whose topics include the original topic."""
    for definition in registry.definitions:
        if view.original_topic in (definition.reply_topic, definition.start_topic):
            return definition.name
    return None
