"""One saga, one trace: a completed, a compensated and a timed-out-and-retried saga through the
real worker and the three simulated services, each exporting as a service of its own; each
saga's trace is read back and its tree checked (saga_traces.check_tree). Once from the local
Jaeger through its HTTP query API, once from an in-memory exporter."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.observability.conftest import JaegerTarget
from tests.integration.observability.saga_traces import (
    KINDS,
    check_tree,
    from_memory,
    run_three_sagas,
    whole,
)
from tests.integration.worker.conftest import WorldFactory


def test_each_saga_is_one_trace_in_jaeger(make_world: WorldFactory, jaeger: JaegerTarget) -> None:
    run = run_three_sagas(
        make_world,
        lambda: BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{jaeger.otlp_endpoint}/v1/traces")),
    )
    for kind in KINDS:
        trace_id = run.trace_id(kind)
        trace = jaeger.query.wait_for(trace_id, whole, within_s=30)
        assert trace is not None, f"{kind}: trace {trace_id} never reached Jaeger"
        check_tree(trace, kind, run.saga_ids[kind], run.world)


def test_each_saga_is_one_trace_in_memory(make_world: WorldFactory) -> None:
    exporter = InMemorySpanExporter()
    run = run_three_sagas(make_world, lambda: SimpleSpanProcessor(exporter))
    spans = exporter.get_finished_spans()
    trace_ids = {kind: run.trace_id(kind) for kind in KINDS}
    assert len(set(trace_ids.values())) == len(KINDS), "two sagas share a trace"
    for kind, trace_id in trace_ids.items():
        check_tree(from_memory(spans, trace_id), kind, run.saga_ids[kind], run.world)
    # What is in no saga's trace is the worker's batches: a poll span each, with the batch's
    # decision under it, linked to the messages it decided.
    others = [
        s for s in spans if s.context and f"{s.context.trace_id:032x}" not in trace_ids.values()
    ]
    assert {s.name for s in others} <= {"poll", "decide and append"}, {s.name for s in others}
    decided = [s for s in others if s.name == "decide and append"]
    assert decided
    assert all(s.links for s in decided)
