"""The outbox relay: how the orchestrator's commands leave the event store for Kafka.

A catch-up subscription over the gap-safe global log publishes the command of every
CommandIssued event, flushes (idempotent producer, acks=all), and only then stores its
checkpoint. A command therefore reaches Kafka only after the event that issued it committed
(invariant 1), and a crash anywhere re-publishes from the checkpoint with the same message id
(invariant 4; participants dedupe on it).

It runs on one elected worker at a time (`LeaderLease`): correct with several, but wasteful.
"""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Producer
from opentelemetry.trace import Tracer

from event_store import CheckpointStore, RecordedEvent
from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.kafka import DeliveryTracker
from orchestrator.messages import message_class
from orchestrator.observability import Metrics, saga_attributes, stored_trace_send
from orchestrator.runtime._ports import CommandLog
from orchestrator.saga.events import command_dedupe_key

# On a command's send span: whether it undoes its step (saga.step names the step either way).
COMPENSATION_ATTRIBUTE = "saga.compensation"


def relay_subscription(consumer_group: str) -> str:
    """The relay's checkpoint name. One relay per consumer group: deployments that share a
    database but run different sagas each publish their own sagas' commands."""
    return f"outbox-relay:{consumer_group}"


def command_headers(event: RecordedEvent) -> list[tuple[str, str | bytes | None]]:
    data, metadata = event.data, event.metadata
    compensation = bool(data["compensation"])
    headers: list[tuple[str, str | bytes | None]] = [
        (h.MESSAGE_ID, str(data["message_id"])),
        (h.SAGA_ID, event.stream_id),
        (h.SAGA_TYPE, event.stream_type),
        (h.STEP, str(data["step"])),
        (h.ATTEMPT, str(data["attempt"])),
        (h.REPLY_TOPIC, str(data["reply_topic"])),
        (h.CORRELATION_ID, str(metadata.get("correlation_id") or event.stream_id)),
        (h.CAUSATION_ID, str(metadata.get("causation_id") or "")),
        # What the participant dedupes on, as the event says it (one key per intent in format
        # 3; the per-attempt message id for format-1/2 sagas, as the previous release sent).
        (h.STEP_KEY, command_dedupe_key(data.get("step_key"), str(data["message_id"]))),
        (h.COMMAND_KIND, h.COMMAND_KIND_COMPENSATE if compensation else h.COMMAND_KIND_EXECUTE),
    ]
    if metadata.get("traceparent"):
        headers.append((h.TRACEPARENT, str(metadata["traceparent"])))
    return headers


class OutboxRelay:
    """Tails the log's CommandIssued events from a stored checkpoint and publishes them.

    Reads only CommandIssued rows (a fifth of the log) from the store, gap-safe; the
    checkpoint moves only after Kafka acknowledged every command of the page."""

    def __init__(
        self,
        store: CommandLog,
        checkpoints: CheckpointStore,
        producer: Producer,
        codec: Codec,
        *,
        name: str,
        saga_types: set[str],
        page_size: int = 2000,
        flush_timeout_s: float = 30.0,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._store = store
        self._checkpoints = checkpoints
        self._name = name
        self._saga_types = frozenset(saga_types)
        self._metrics = metrics
        self._producer = producer
        self._codec = codec
        self._page_size = page_size
        self._flush_timeout_s = flush_timeout_s
        self._delivery = DeliveryTracker()
        # Each command's send continues the trace its event recorded (None: tracing off).
        self._tracer = tracer
        self._position: int | None = None
        self.published = 0

    @property
    def position(self) -> int:
        if self._position is None:
            self._position = self._checkpoints.load(self._name)
        return self._position

    def poll(self) -> int:
        """Publish the next page of commands; returns how many were published."""
        after = self.position
        events, resume = self._store.read_type(after, ["CommandIssued"], self._page_size)
        published = self._publish(events)
        if resume != after:
            self._checkpoints.save(self._name, resume)
            self._position = resume
        return published

    def _publish(self, events: Sequence[RecordedEvent]) -> int:
        count = 0
        per_topic: dict[str, int] = {}
        for event in events:
            if event.stream_type not in self._saga_types:
                continue  # another deployment's saga: its own relay publishes it
            data = event.data
            topic = str(data["topic"])
            command = message_class(str(data["message_type"])).model_validate(data["payload"])
            key = str(data["key"]).encode()
            with stored_trace_send(
                self._tracer,
                traceparent=event.metadata.get("traceparent"),
                topic=topic,
                key=key,
                message_id=str(data["message_id"]),
                headers=command_headers(event),
                attributes={
                    **saga_attributes(
                        saga_id=event.stream_id,
                        saga_type=event.stream_type,
                        step=str(data["step"]),
                        attempt=int(data["attempt"]),
                    ),
                    COMPENSATION_ATTRIBUTE: bool(data["compensation"]),
                },
            ) as headers:
                self._producer.produce(
                    topic,
                    key=key,
                    value=self._codec.encode(topic, command),
                    headers=headers,
                    on_delivery=self._delivery,
                )
            count += 1
            per_topic[topic] = per_topic.get(topic, 0) + 1
        if count:
            self._delivery.raise_if_failed(self._producer, self._flush_timeout_s)
            self.published += count
            if self._metrics is not None:
                for topic, n in per_topic.items():
                    self._metrics.commands_published.labels(topic=topic).inc(n)
        return count
