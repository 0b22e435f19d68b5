"""Logs bound to the work: the worker's JSON log, captured while one saga runs through it (at
debug level, where it says what it decided for each message), carries on every line about a
message that saga's id, type, step, attempt, the message id, and the trace and span id of the
span that handled the message; nothing of it leaks onto the lines that follow."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from orchestrator.observability import configure_logging
from orchestrator.participant import SagaStarter
from tests.integration.worker.conftest import WorldFactory


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def test_every_line_about_a_message_names_its_saga_and_its_span(
    make_world: WorldFactory, worker_log: io.StringIO
) -> None:
    world = make_world()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "saga-worker"}), sampler=ALWAYS_ON
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    running = world.start_worker(tracer=tracer)
    world.start_participants()
    saga_id = SagaStarter(world.producer, world.codec, tracer=tracer).start(
        world.saga, world.order(1)
    )
    assert world.wait_for([saga_id]) == {saga_id: "completed"}
    world.wait_committed(world.worker_routes_consumed())
    running.stop()
    world.workers.clear()

    lines = [json.loads(line) for line in worker_log.getvalue().splitlines()]
    mine = [line for line in lines if line.get("saga_id") == saga_id]
    decided = [line for line in mine if line["event"] == "message decided"]
    # The start, then one reply per step.
    assert [line.get("step") for line in decided] == [
        "reserve_credit",
        "reserve_credit",
        "reserve_inventory",
        "schedule_shipment",
    ]
    [first, *_] = world.events([saga_id])
    trace_id = str(first.metadata["traceparent"]).split("-")[1]
    processed = {
        span.attributes["messaging.message.id"]: span
        for span in exporter.get_finished_spans()
        if span.name.startswith("process ") and span.attributes
    }
    for line in decided:
        assert line["saga_type"] == world.saga.definition.name
        assert line["trace_id"] == trace_id
        span = processed[line["message_id"]]
        assert span.context is not None
        assert line["span_id"] == f"{span.context.span_id:016x}", "the span of that message"
        attributes = dict(span.attributes or {})
        assert (line["topic"], line["partition"], line["offset"]) == (
            attributes["messaging.destination.name"],
            int(str(attributes["messaging.destination.partition.id"])),
            attributes["messaging.kafka.offset"],
        )
    assert [line.get("attempt") for line in decided[1:]] == [1, 1, 1]
    assert decided[-1]["saga_status"] == "completed"
    # Bound per message and cleared after it: the worker's own lines name no saga.
    stopped = next(line for line in lines if line["event"] == "worker stopped")
    assert not {"saga_id", "message_id", "trace_id", "step"} & stopped.keys()
