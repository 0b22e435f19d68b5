"""The per-message spans of a batch consumer: the tree they build, what the events and replies
carry on, and that with tracing off a message's traceparent passes through untouched."""

from __future__ import annotations

import io
import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from orchestrator.observability import MessageSpans, configure_logging, get_logger

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
COORDINATES = "credit.commands[3]@41"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> MessageSpans:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return MessageSpans(provider.get_tracer("test"), "participant-credit")


def _start(spans: MessageSpans) -> None:
    spans.start(
        COORDINATES,
        topic="credit.commands",
        partition=3,
        offset=41,
        headers=[("traceparent", INCOMING.encode())],
        key=b"saga-1",
        message_id="m-1",
        saga_id="saga-1",
        saga_type="order_fulfilment",
        step="reserve_credit",
        attempt=2,
    )


def test_process_handle_and_send_form_one_branch_of_the_incoming_trace(
    spans: MessageSpans, exporter: InMemorySpanExporter
) -> None:
    _start(spans)
    with spans.child(COORDINATES, "handle ReserveCredit"):
        pass
    with spans.sending(
        COORDINATES, topic="order.replies", key=b"saga-1", message_id="r-1", headers=[]
    ) as headers:
        sent_headers = list(headers)
    spans.annotate(COORDINATES, outcome="CreditReserved")
    spans.end_all()
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    process = by_name["process credit.commands"]
    handle, send = by_name["handle ReserveCredit"], by_name["send order.replies"]
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None
    assert f"{process.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert f"{process.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert handle.parent is not None
    assert handle.parent.span_id == process.context.span_id
    assert send.parent is not None
    assert send.parent.span_id == process.context.span_id
    assert send.kind is SpanKind.PRODUCER
    [(name, value)] = sent_headers
    assert name == "traceparent"
    assert value.decode().split("-")[2] == f"{send.context.span_id:016x}"
    attributes = dict(process.attributes or {})
    assert attributes["saga.id"] == "saga-1"
    assert attributes["saga.step"] == "reserve_credit"
    assert attributes["saga.attempt"] == 2
    assert attributes["saga.outcome"] == "CreditReserved"
    assert attributes["messaging.consumer.group.name"] == "participant-credit"


def test_the_events_of_a_message_record_its_own_span_as_parent(spans: MessageSpans) -> None:
    _start(spans)
    span = spans.get(COORDINATES)
    assert span is not None
    recorded = spans.traceparent(COORDINATES, INCOMING)
    assert recorded is not None
    assert recorded.split("-")[2] == f"{span.get_span_context().span_id:016x}"
    assert recorded.split("-")[1] == INCOMING.split("-")[1]
    spans.end_all()


def test_dead_lettering_is_an_event_on_the_message_span(
    spans: MessageSpans, exporter: InMemorySpanExporter
) -> None:
    _start(spans)
    spans.dead_lettered(
        COORDINATES, reason="undecodable", dead_letter_topic="credit.commands.dlt", error=KeyError()
    )
    spans.end_all()
    [span] = exporter.get_finished_spans()
    [event] = span.events
    assert event.name == "saga.dead_lettered"
    assert dict(event.attributes or {})["reason"] == "undecodable"
    assert dict(span.attributes or {})["saga.outcome"] == "dead_lettered"


def test_with_tracing_off_the_incoming_traceparent_passes_through() -> None:
    spans = MessageSpans(trace.NoOpTracerProvider().get_tracer("off"), "g")
    _start(spans)
    assert spans.traceparent(COORDINATES, INCOMING) == INCOMING
    echoed = [("traceparent", INCOMING.encode())]
    with spans.sending(
        COORDINATES, topic="t", key=None, message_id=None, headers=list(echoed)
    ) as headers:
        assert headers == echoed
    spans.end_all()


def test_log_lines_in_scope_carry_the_saga_and_trace_ids(spans: MessageSpans) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log = get_logger("test")
    _start(spans)
    with spans.child(COORDINATES, "handle") as handle, spans.logging(COORDINATES, span=handle):
        log.info("inside")
    log.info("outside")
    spans.end_all()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["saga_id"] == "saga-1"
    assert inside["saga_type"] == "order_fulfilment"
    assert inside["step"] == "reserve_credit"
    assert inside["attempt"] == 2
    assert inside["message_id"] == "m-1"
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert inside["span_id"] == f"{handle.get_span_context().span_id:016x}"
    assert not {"saga_id", "trace_id", "message_id"} & outside.keys()
