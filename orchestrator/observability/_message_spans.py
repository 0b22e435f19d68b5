"""The process spans of one consumed batch, for consumers that handle a batch in one transaction.

The worker and the participant SDK both decide a whole batch at once, so a message's span
cannot simply wrap "its" code: it is started when the message is taken in, stays open while
the batch is decided (children and sends hang under it by the message's coordinates), and is
ended once the batch is durable. With tracing off (no tracer) no span is made at all: every
span here is the API's invalid span, an incoming traceparent passes through unchanged, and
only the log coordinates are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Tracer

from orchestrator import headers as h
from orchestrator.observability._logging import LogContext, message_context
from orchestrator.observability._tracing import (
    ERROR_TYPE,
    SAGA_OUTCOME,
    KafkaHeaders,
    inject_trace_context,
    record_dead_letter,
    saga_attributes,
    send_span,
    start_process_span,
    traceparent_of,
)
from orchestrator.observability._tracing_config import active_tracer


class KafkaRecord(Protocol):
    """A consumed record as the Kafka layer hands it over (orchestrator.kafka.ConsumedRecord)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def headers(self) -> KafkaHeaders: ...
    @property
    def coordinates(self) -> str: ...
    def header(self, name: str) -> str | None: ...


@dataclass(slots=True)
class _Message:
    """What the log lines of one message carry (kept here too: with tracing off the span is a
    no-op that holds no attributes)."""

    topic: str
    partition: int
    offset: int
    message_id: str | None
    saga_id: str | None
    saga_type: str | None
    step: str | None
    attempt: int | None
    span: Span


class MessageSpans:
    """Open process spans by message coordinates (`topic[partition]@offset`)."""

    def __init__(self, tracer: Tracer | None, consumer_group: str) -> None:
        self._tracer = active_tracer(tracer)  # None: tracing is off
        self._group = consumer_group
        self._open: dict[str, _Message] = {}

    def start(
        self,
        coordinates: str,
        *,
        topic: str,
        partition: int,
        offset: int,
        headers: KafkaHeaders | None,
        key: bytes | None,
        message_id: str | None,
        saga_id: str | None = None,
        saga_type: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> Span:
        if self._tracer is None:
            span: Span = trace.INVALID_SPAN
        else:
            span = start_process_span(
                topic=topic,
                partition=partition,
                offset=offset,
                consumer_group=self._group,
                headers=headers,
                key=key,
                message_id=message_id,
                tracer=self._tracer,
            )
        if span.is_recording():
            span.set_attributes(
                saga_attributes(saga_id=saga_id, saga_type=saga_type, step=step, attempt=attempt)
            )
        self._open[coordinates] = _Message(
            topic, partition, offset, message_id, saga_id, saga_type, step, attempt, span
        )
        return span

    def start_record(
        self, record: KafkaRecord, *, message_id: str | None, saga_id: str | None
    ) -> Span:
        """`start` for a consumed record: saga type, step and attempt from its headers."""
        attempt = record.header(h.ATTEMPT)
        return self.start(
            record.coordinates,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            headers=record.headers,
            key=record.key,
            message_id=message_id,
            saga_id=saga_id,
            saga_type=record.header(h.SAGA_TYPE),
            step=record.header(h.STEP),
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
        )

    def get(self, coordinates: str) -> Span | None:
        message = self._open.get(coordinates)
        return None if message is None else message.span

    @property
    def spans(self) -> list[Span]:
        return [message.span for message in self._open.values()]

    def traceparent(self, coordinates: str, fallback: str | None) -> str | None:
        """The traceparent naming the message's span (what the events it causes record), or
        `fallback` (the one it arrived with) when tracing is off."""
        span = self.get(coordinates)
        if span is None or not span.is_recording():
            return fallback
        return traceparent_of(span) or fallback

    def annotate(self, coordinates: str, **saga: str | int | None) -> None:
        """Add saga attributes learnt later (the step a reply ended, the outcome)."""
        message = self._open.get(coordinates)
        if message is None:
            return
        if isinstance(saga.get("step"), str):
            message.step = str(saga["step"])
        span = message.span
        if not span.is_recording():
            return
        outcome = saga.pop("outcome", None)
        span.set_attributes(saga_attributes(**saga))  # type: ignore[arg-type]
        if outcome is not None:
            span.set_attribute(SAGA_OUTCOME, str(outcome))

    def dead_lettered(
        self, coordinates: str, *, reason: str, dead_letter_topic: str, error: BaseException
    ) -> None:
        span = self.get(coordinates)
        if span is None:
            return
        record_dead_letter(span, reason=reason, dead_letter_topic=dead_letter_topic, error=error)
        if span.is_recording():
            span.set_attribute(SAGA_OUTCOME, "dead_lettered")
            span.set_attribute(ERROR_TYPE, type(error).__qualname__)

    @contextmanager
    def child(self, coordinates: str, name: str) -> Iterator[Span]:
        """An INTERNAL span under the message's span, made current (a handler's own spans and
        log lines nest under it)."""
        if self._tracer is None:
            yield trace.INVALID_SPAN
            return
        parent = self.get(coordinates)
        context = trace.set_span_in_context(parent) if parent is not None else None
        with self._tracer.start_as_current_span(
            name, context=context, kind=SpanKind.INTERNAL
        ) as span:
            yield span

    @contextmanager
    def sending(
        self,
        coordinates: str | None,
        *,
        topic: str,
        key: bytes | None,
        message_id: str | None,
        headers: list[tuple[str, bytes]],
    ) -> Iterator[list[tuple[str, bytes]]]:
        """A PRODUCER span under the message's span; yields `headers` with its traceparent."""
        if self._tracer is None:
            yield headers
            return
        parent = self.get(coordinates) if coordinates is not None else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        with send_span(
            topic=topic, key=key, message_id=message_id, context=context, tracer=self._tracer
        ) as span:
            yield inject_trace_context(headers) if span.is_recording() else headers

    @contextmanager
    def logging(self, coordinates: str, *, span: Span | None = None) -> Iterator[LogContext]:
        """Bind the message's coordinates, saga and trace ids (of `span`, default the message's
        own) to every log line in scope; unbound on exit."""
        message = self._open[coordinates]
        with message_context(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            message_id=message.message_id,
        ) as scope:
            scope.bind_saga(
                saga_id=message.saga_id,
                saga_type=message.saga_type,
                step=message.step,
                attempt=message.attempt,
            )
            scope.bind_span(span if span is not None else message.span)
            yield scope

    def end_all(self) -> None:
        for message in self._open.values():
            message.span.end()
        self._open.clear()
