"""OpenTelemetry tracing across Kafka: W3C trace context in headers, messaging-convention spans.

Span attributes follow the OpenTelemetry messaging semantic conventions as of semconv 1.28+
(the `opentelemetry-semantic-conventions` package this project pins with the SDK): operation
types `receive`, `process` and `send` (1.28 renamed `publish` to `send`), span names
"{operation} {destination}", `messaging.destination.partition.id` as a string, and
`messaging.kafka.offset`. The names are spelled out here rather than imported from the
semconv package's `_incubating` module, which is private; a unit test pins them to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.observability._tracing_config import INSTRUMENTATION_NAME

# Kafka headers as confluent-kafka hands them over: values may be None (a header with no value).
KafkaHeaders = Sequence[tuple[str, bytes | None]]

MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_DESTINATION_PARTITION_ID: Final = "messaging.destination.partition.id"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_KAFKA_MESSAGE_KEY: Final = "messaging.kafka.message.key"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_CONSUMER_GROUP_NAME: Final = "messaging.consumer.group.name"
MESSAGING_BATCH_MESSAGE_COUNT: Final = "messaging.batch.message_count"
ERROR_TYPE: Final = "error.type"
# The saga's own coordinates, on every span that handles one of its messages.
SAGA_ID: Final = "saga.id"
SAGA_TYPE: Final = "saga.type"
SAGA_STEP: Final = "saga.step"
SAGA_ATTEMPT: Final = "saga.attempt"
SAGA_OUTCOME: Final = "saga.outcome"
# The span event of a message sent to `<topic>.dlt` (and of one sent back from it).
DEAD_LETTERED_EVENT: Final = "saga.dead_lettered"
REDRIVEN_EVENT: Final = "saga.redriven"

SpanAttributes = dict[str, str | int]
_PROPAGATOR: Final = TraceContextTextMapPropagator()


class _KafkaHeadersGetter(Getter[KafkaHeaders]):
    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        # Kafka header names are case-sensitive, HTTP's are not; producers in other languages
        # sometimes copy HTTP habits ("Traceparent"), so match without case.
        wanted = key.lower()
        values = [
            value.decode("utf-8", errors="replace")
            for name, value in carrier
            if name.lower() == wanted and value is not None
        ]
        return values or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _KafkaHeadersSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        # Replace, never append: a redriven or re-published message already carries a
        # traceparent, and two of them make the consumer's choice arbitrary.
        wanted = key.lower()
        carrier[:] = [(name, v) for name, v in carrier if name.lower() != wanted]
        carrier.append((key, value.encode("utf-8")))


_GETTER: Final = _KafkaHeadersGetter()
_SETTER: Final = _KafkaHeadersSetter()


def inject_trace_context(
    headers: list[tuple[str, bytes]], context: Context | None = None
) -> list[tuple[str, bytes]]:
    """Write `traceparent` (and `tracestate` if any) for `context` (default: the current one)
    into `headers` in place, and return the list for chaining into `Producer.produce`."""
    _PROPAGATOR.inject(headers, context=context, setter=_SETTER)
    return headers


def extract_trace_context(headers: KafkaHeaders | None) -> Context:
    """The remote parent context in a consumed message's headers (empty if none or invalid)."""
    return _PROPAGATOR.extract(headers or [], getter=_GETTER)


def trace_carrier(context: Context | None = None) -> dict[str, str]:
    """`traceparent`/`tracestate` as strings, for storing with an event: the outbox publishes
    a command after the commit (maybe after a restart) and must continue the original trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def context_from_carrier(carrier: Mapping[str, str]) -> Context:
    """Inverse of `trace_carrier`."""
    return _PROPAGATOR.extract(carrier)


def _tracer(tracer: Tracer | None) -> Tracer:
    return tracer if tracer is not None else trace.get_tracer(INSTRUMENTATION_NAME)


def _key_attribute(key: bytes | str | None) -> str | None:
    # Semconv: set the key only if it has an unambiguous string form; our keys are saga ids.
    if key is None or isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


@contextmanager
def _span(
    tracer: Tracer,
    *,
    name: str,
    kind: SpanKind,
    attributes: MutableMapping[str, str | int],
    context: Context | None = None,
    links: Sequence[Link] = (),
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes, links=links
    ) as span:
        try:
            yield span
        except BaseException as exc:
            # The SDK records the exception and the error status; `error.type` is the
            # low-cardinality attribute the conventions require on failed operations.
            span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            raise


@contextmanager
def receive_span(
    *, consumer_group: str, message_count: int, tracer: Tracer | None = None
) -> Iterator[Span]:
    """A span around one consumed batch (CLIENT, operation `receive`, named `poll`: a batch
    mixes topics, so there is no single destination to name it by)."""
    attributes: dict[str, str | int] = {
        MESSAGING_SYSTEM: "kafka",
        MESSAGING_OPERATION_TYPE: "receive",
        MESSAGING_OPERATION_NAME: "poll",
        MESSAGING_CONSUMER_GROUP_NAME: consumer_group,
        MESSAGING_BATCH_MESSAGE_COUNT: message_count,
    }
    with _span(_tracer(tracer), name="poll", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def _process_attributes(
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer_group: str,
    key: bytes | str | None,
    message_id: str | None,
) -> SpanAttributes:
    attributes: SpanAttributes = {
        MESSAGING_SYSTEM: "kafka",
        MESSAGING_OPERATION_TYPE: "process",
        MESSAGING_OPERATION_NAME: "process",
        MESSAGING_DESTINATION_NAME: topic,
        MESSAGING_DESTINATION_PARTITION_ID: str(partition),
        MESSAGING_KAFKA_OFFSET: offset,
        MESSAGING_CONSUMER_GROUP_NAME: consumer_group,
    }
    key_text = _key_attribute(key)
    if key_text is not None:
        attributes[MESSAGING_KAFKA_MESSAGE_KEY] = key_text
    if message_id is not None:
        attributes[MESSAGING_MESSAGE_ID] = message_id
    return attributes


def _batch_links() -> list[Link]:
    batch = trace.get_current_span().get_span_context()
    return [Link(batch)] if batch.is_valid else []


def start_process_span(
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer_group: str,
    headers: KafkaHeaders | None,
    key: bytes | str | None = None,
    message_id: str | None = None,
    tracer: Tracer | None = None,
) -> Span:
    """A CONSUMER span for processing one message, child of the producer's trace context in
    `headers`, so a saga's trace runs start → commands → replies; if a batch (`receive_span`)
    span is current it is linked. Started, but neither made current nor ended: the worker and
    the participants decide a whole batch in one transaction, so each message's span stays
    open until the batch is durable, and the caller ends it (`MessageSpans`)."""
    return _tracer(tracer).start_span(
        f"process {topic}",
        context=extract_trace_context(headers),
        kind=SpanKind.CONSUMER,
        attributes=_process_attributes(
            topic=topic,
            partition=partition,
            offset=offset,
            consumer_group=consumer_group,
            key=key,
            message_id=message_id,
        ),
        links=_batch_links(),
    )


@contextmanager
def decide_span(*, messages: Sequence[Span], tracer: Tracer | None = None) -> Iterator[Span]:
    """An INTERNAL span around deciding and appending one batch (one transaction), linked to
    the process span of every message in it: the batch belongs to many sagas' traces at once,
    so it hangs under the batch's `receive_span` and reaches each saga through a link."""
    links = [Link(span.get_span_context()) for span in messages if span.get_span_context().is_valid]
    attributes: SpanAttributes = {MESSAGING_BATCH_MESSAGE_COUNT: len(messages)}
    with _span(
        _tracer(tracer),
        name="decide and append",
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        links=links,
    ) as span:
        yield span


def saga_attributes(
    *,
    saga_id: str | None = None,
    saga_type: str | None = None,
    step: str | None = None,
    attempt: int | None = None,
    outcome: str | None = None,
) -> SpanAttributes:
    """The saga attributes that are known (unknown ones are left out, never empty strings)."""
    values: dict[str, str | int | None] = {
        SAGA_ID: saga_id,
        SAGA_TYPE: saga_type,
        SAGA_STEP: step,
        SAGA_ATTEMPT: attempt,
        SAGA_OUTCOME: outcome,
    }
    return {name: value for name, value in values.items() if value is not None}


def record_dead_letter(
    span: Span, *, reason: str, dead_letter_topic: str, error: BaseException | None = None
) -> None:
    """Mark `span` with the dead-lettering of its message (a span event, so the trace shows
    where and why the message left the saga's flow)."""
    attributes: SpanAttributes = {"reason": reason, MESSAGING_DESTINATION_NAME: dead_letter_topic}
    if error is not None:
        attributes[ERROR_TYPE] = type(error).__qualname__
    span.add_event(DEAD_LETTERED_EVENT, attributes)


@contextmanager
def stored_trace_send(
    tracer: Tracer | None,
    *,
    traceparent: str | None,
    topic: str,
    key: bytes | str | None,
    message_id: str | None,
    headers: list[tuple[str, str | bytes | None]],
    attributes: SpanAttributes,
) -> Iterator[list[tuple[str, str | bytes | None]]]:
    """A PRODUCER span continuing the trace a stored traceparent names (the outbox relay
    publishing a committed command, the timer poller firing a timer): yields `headers` with
    the span's traceparent in place of the stored one. With `tracer` None (tracing off) no
    span is made and the headers pass as they are."""
    if tracer is None:
        yield headers
        return
    context = context_from_carrier({"traceparent": traceparent}) if traceparent else None
    with send_span(
        topic=topic, key=key, message_id=message_id, context=context, tracer=tracer
    ) as span:
        span.set_attributes(attributes)
        carrier: list[tuple[str, bytes]] = []
        inject_trace_context(carrier)
        names = {name.lower() for name, _ in carrier}
        yield [*(item for item in headers if item[0].lower() not in names), *carrier]


def record_redrive(span: Span, *, actor: str, dead_letter: str, attempt: int) -> None:
    """Mark `span` (the send of a dead letter back to its topic) with who redrove it."""
    span.add_event(
        REDRIVEN_EVENT, {"actor": actor, "dead_letter": dead_letter, "saga.attempt": attempt}
    )


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent naming `span` as parent (None for an invalid span): what the worker
    records in the metadata of the events a message caused, for the relay to continue."""
    return trace_carrier(trace.set_span_in_context(span)).get("traceparent")


@contextmanager
def send_span(
    *,
    topic: str,
    key: bytes | str | None = None,
    message_id: str | None = None,
    partition: int | None = None,
    context: Context | None = None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """A PRODUCER span for sending one message. Call `inject_trace_context(headers)` inside it
    so the consumer's process span becomes its child. `context` is the parent (for the outbox:
    `context_from_carrier` of the stored carrier); default is the current context."""
    attributes: dict[str, str | int] = {
        MESSAGING_SYSTEM: "kafka",
        MESSAGING_OPERATION_TYPE: "send",
        MESSAGING_OPERATION_NAME: "send",
        MESSAGING_DESTINATION_NAME: topic,
    }
    key_text = _key_attribute(key)
    if key_text is not None:
        attributes[MESSAGING_KAFKA_MESSAGE_KEY] = key_text
    if message_id is not None:
        attributes[MESSAGING_MESSAGE_ID] = message_id
    if partition is not None:
        attributes[MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
    with _span(
        _tracer(tracer),
        name=f"send {topic}",
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        context=context,
    ) as span:
        yield span
