"""OpenTelemetry tracing across Kafka: W3C trace context in headers, messaging-convention spans.

Span attributes follow the OpenTelemetry messaging semantic conventions as of semconv 1.28+
(the `opentelemetry-semantic-conventions` package this project pins with the SDK): operation
types `receive`, `process` and `send` (1.28 renamed `publish` to `send`), span names
"{operation} {destination}", `messaging.destination.partition.id` as a string, and
`messaging.kafka.offset`. The names are spelled out here rather than imported from the
semconv package's `_incubating` module, which is private; a unit test pins them to it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from orchestrator.observability._logging import get_logger

_log = get_logger(__name__)

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

_INSTRUMENTATION_NAME: Final = "saga-orchestrator"
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


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Build the tracer provider and install it as the global one if none is installed yet.

    Without an exporter (and without OTLP configured) spans are still created, so trace ids
    propagate through Kafka to participants and appear in logs; they are just not exported.
    The OpenTelemetry API allows one global provider per process, so a second call returns a
    working provider that is not global: pass its tracer explicitly (tests do).
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    chosen = exporter if exporter is not None else _otlp_exporter_from_env()
    if chosen is not None:
        # Batching keeps export off the worker's hot path; spans are flushed on shutdown.
        provider.add_span_processor(BatchSpanProcessor(chosen))
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _otlp_exporter_from_env() -> SpanExporter | None:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint:
        return None
    # The OTLP exporter is optional (it pulls in grpc/protobuf); import it only when asked for.
    # The spec's default protocol is http/protobuf; "grpc" selects the gRPC exporter.
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    kind = "grpc" if protocol == "grpc" else "http"
    module_name = f"opentelemetry.exporter.otlp.proto.{kind}.trace_exporter"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        _log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
            "spans will not be exported (pip install opentelemetry-exporter-otlp)",
            endpoint=endpoint,
            module=module_name,
        )
        return None
    instance = module.OTLPSpanExporter()  # reads endpoint, headers, TLS from OTEL_* env
    if not isinstance(instance, SpanExporter):
        raise TypeError(f"{module_name}.OTLPSpanExporter is not a SpanExporter")
    return instance


def _tracer(tracer: Tracer | None) -> Tracer:
    return tracer if tracer is not None else trace.get_tracer(_INSTRUMENTATION_NAME)


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


@contextmanager
def process_span(
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer_group: str,
    headers: KafkaHeaders | None,
    key: bytes | str | None = None,
    message_id: str | None = None,
    tracer: Tracer | None = None,
) -> Iterator[Span]:
    """A CONSUMER span for processing one message, child of the producer's trace context in
    `headers` so a saga's trace runs start → commands → replies. If a batch (`receive_span`)
    span is current it is linked, keeping the batch's timing reachable from each message."""
    attributes: dict[str, str | int] = {
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
    batch = trace.get_current_span().get_span_context()
    links = [Link(batch)] if batch.is_valid else []
    with _span(
        _tracer(tracer),
        name=f"process {topic}",
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        context=extract_trace_context(headers),
        links=links,
    ) as span:
        yield span


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
