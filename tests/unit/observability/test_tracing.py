from __future__ import annotations

import sys

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import messaging_attributes as semconv
from opentelemetry.trace import SpanKind, StatusCode, Tracer, get_current_span

from orchestrator.observability import (
    _tracing,
    _tracing_config,
    configure_tracing,
    context_from_carrier,
    extract_trace_context,
    inject_trace_context,
    receive_span,
    send_span,
    start_process_span,
    trace_carrier,
)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    # Simple (synchronous) processor: spans are in the exporter the moment they end.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_inject_writes_the_w3c_traceparent_bytes(tracer: Tracer) -> None:
    headers: list[tuple[str, bytes]] = [("saga_id", b"s-1")]
    with tracer.start_as_current_span("send") as span:
        inject_trace_context(headers)
    ctx = span.get_span_context()
    assert headers[0] == ("saga_id", b"s-1")
    # Flags come from the SDK (01 sampled, plus 02 "random trace id" in W3C level 2).
    flags = int(ctx.trace_flags)
    assert flags & 0x01
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}".encode()
    assert headers[1] == ("traceparent", expected)


def test_inject_replaces_an_existing_traceparent(tracer: Tracer) -> None:
    headers = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    with tracer.start_as_current_span("redrive") as span:
        inject_trace_context(headers)
    assert [name for name, _ in headers] == ["traceparent"]
    assert f"{span.get_span_context().trace_id:032x}".encode() in headers[0][1]


def test_inject_without_a_current_span_writes_nothing() -> None:
    headers: list[tuple[str, bytes]] = []
    assert inject_trace_context(headers) == []


def test_extract_reads_headers_as_confluent_kafka_returns_them() -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = [
        ("saga_id", None),  # confluent-kafka gives None for a header without a value
        ("Traceparent", f"00-{trace_id}-{span_id}-01".encode()),
    ]
    ctx = get_current_span(extract_trace_context(headers)).get_span_context()
    assert ctx.is_remote
    assert (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}") == (trace_id, span_id)


@pytest.mark.parametrize("headers", [None, [], [("traceparent", b"garbage")]])
def test_extract_without_valid_context_yields_no_parent(
    headers: list[tuple[str, bytes | None]] | None,
) -> None:
    assert not get_current_span(extract_trace_context(headers)).get_span_context().is_valid


def test_a_trace_flows_from_send_through_headers_to_process(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    headers: list[tuple[str, bytes]] = []
    with send_span(topic="credit.commands", key=b"s-1", message_id="m-1", tracer=tracer):
        inject_trace_context(headers)
    start_process_span(
        topic="credit.commands",
        partition=4,
        offset=17,
        consumer_group="credit-service",
        headers=headers,
        key=b"s-1",
        message_id="m-1",
        tracer=tracer,
    ).end()
    spans = _by_name(exporter)
    sent, processed = spans["send credit.commands"], spans["process credit.commands"]
    assert sent.kind is SpanKind.PRODUCER
    assert processed.kind is SpanKind.CONSUMER
    assert processed.context.trace_id == sent.context.trace_id
    assert processed.parent is not None
    assert processed.parent.span_id == sent.context.span_id
    assert dict(sent.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "credit.commands",
        "messaging.kafka.message.key": "s-1",
        "messaging.message.id": "m-1",
    }
    assert dict(processed.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "credit.commands",
        "messaging.destination.partition.id": "4",
        "messaging.kafka.offset": 17,
        "messaging.consumer.group.name": "credit-service",
        "messaging.kafka.message.key": "s-1",
        "messaging.message.id": "m-1",
    }


def test_process_spans_in_a_batch_link_to_the_receive_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with receive_span(consumer_group="saga-orchestrator", message_count=2, tracer=tracer):
        for offset in (0, 1):
            start_process_span(
                topic="saga.replies",
                partition=0,
                offset=offset,
                consumer_group="saga-orchestrator",
                headers=None,
                tracer=tracer,
            ).end()
    spans = exporter.get_finished_spans()
    [poll] = [s for s in spans if s.name == "poll"]
    processed = [s for s in spans if s.name == "process saga.replies"]
    assert len(processed) == 2
    assert poll.kind is SpanKind.CLIENT
    assert (poll.attributes or {})["messaging.batch.message_count"] == 2
    assert (poll.attributes or {})["messaging.operation.type"] == "receive"
    for span in processed:
        # No producer context in the headers: each message starts a trace of its own and
        # reaches its batch through a link, not through parenthood.
        assert span.parent is None
        assert [link.context.span_id for link in span.links] == [poll.context.span_id]


def test_a_failing_send_span_records_error_type_and_status(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(BufferError), send_span(topic="t", tracer=tracer):
        raise BufferError("queue full")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "BufferError"
    assert [event.name for event in span.events] == ["exception"]


def test_undecodable_keys_are_left_out(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    with send_span(topic="t", key=b"\xff\xfe", partition=2, tracer=tracer):
        pass
    [span] = exporter.get_finished_spans()
    attributes = span.attributes or {}
    assert "messaging.kafka.message.key" not in attributes
    assert attributes["messaging.destination.partition.id"] == "2"


def test_stored_carrier_continues_the_trace_in_the_outbox(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with tracer.start_as_current_span("decide") as decide:
        carrier = trace_carrier()
    assert set(carrier) == {"traceparent"}
    with send_span(topic="t", context=context_from_carrier(carrier), tracer=tracer):
        pass
    sent = _by_name(exporter)["send t"]
    assert sent.parent is not None
    assert sent.parent.span_id == decide.get_span_context().span_id


def test_attribute_names_match_the_semantic_conventions_package() -> None:
    assert _tracing.MESSAGING_SYSTEM == semconv.MESSAGING_SYSTEM
    assert _tracing.MESSAGING_DESTINATION_NAME == semconv.MESSAGING_DESTINATION_NAME
    assert _tracing.MESSAGING_DESTINATION_PARTITION_ID == semconv.MESSAGING_DESTINATION_PARTITION_ID
    assert _tracing.MESSAGING_OPERATION_TYPE == semconv.MESSAGING_OPERATION_TYPE
    assert _tracing.MESSAGING_OPERATION_NAME == semconv.MESSAGING_OPERATION_NAME
    assert _tracing.MESSAGING_KAFKA_MESSAGE_KEY == semconv.MESSAGING_KAFKA_MESSAGE_KEY
    assert _tracing.MESSAGING_KAFKA_OFFSET == semconv.MESSAGING_KAFKA_OFFSET
    assert _tracing.MESSAGING_MESSAGE_ID == semconv.MESSAGING_MESSAGE_ID
    assert _tracing.MESSAGING_CONSUMER_GROUP_NAME == semconv.MESSAGING_CONSUMER_GROUP_NAME
    assert _tracing.MESSAGING_BATCH_MESSAGE_COUNT == semconv.MESSAGING_BATCH_MESSAGE_COUNT
    values = {v.value for v in semconv.MessagingOperationTypeValues}
    assert {"send", "receive", "process"} <= values


def test_configure_tracing_exports_through_the_given_exporter(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = configure_tracing("saga-worker", exporter)
    assert provider is not None
    with send_span(topic="t", tracer=provider.get_tracer("test")):
        pass
    assert exporter.get_finished_spans() == ()  # batched: nothing on the hot path
    assert provider.force_flush()
    [span] = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "saga-worker"
    provider.shutdown()


def test_otlp_is_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert _tracing_config._otlp_exporter_from_env() is None


def test_otlp_endpoint_without_the_exporter_package_degrades_to_no_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import raise ImportError, as if the package were absent.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert _tracing_config._otlp_exporter_from_env() is None
