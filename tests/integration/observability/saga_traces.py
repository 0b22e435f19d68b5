"""Three sagas through a real worker and the three simulated services, each service with a
tracer of its own, and the checks of each saga's trace tree (shared by the Jaeger test and the
in-memory one).

The sagas are steered by choosing their order ids: the simulated services decide from a hash
of (seed, service, order id, attempt), so with credit silent half the time and shipping saying
no half the time, some order completes, some is compensated, and some gets no answer from
credit: it times out, is retried as attempt 2 (which the inbox answers as the repeat of a step
it handled, with the reply it recorded: none), times out again and is compensated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from orchestrator.observability import JaegerSpan, JaegerTrace
from orchestrator.participant import SagaStarter
from orchestrator.saga import RetryPolicy
from sagas.order_services import SERVICES, Behaviour, _draw
from tests.integration.worker.conftest import World, WorldFactory

CREDIT = Behaviour(silence_rate=0.5)
SHIPPING = Behaviour(failure_rate=0.5)
WORKER, STARTER = "saga-worker", "sagactl"
PARTICIPANTS = {service: f"participant-{service}" for service in SERVICES}
KINDS = ("completed", "compensated", "retried")


@dataclass
class TracedRun:
    world: World
    saga_ids: dict[str, str]  # kind -> saga id
    providers: list[TracerProvider]

    def trace_id(self, kind: str) -> str:
        [first, *_] = self.world.events([self.saga_ids[kind]])
        return str(first.metadata["traceparent"]).split("-")[1]

    def flush(self) -> None:
        for provider in self.providers:
            provider.force_flush()


def _kind(world: World, index: int) -> str:
    order_id = world.order(index, "t").order_id
    if _draw(CREDIT, "credit", order_id, 1) < CREDIT.silence_rate:
        return "retried"
    ships = _draw(SHIPPING, "shipping", order_id, 1) >= SHIPPING.failure_rate
    return "completed" if ships else "compensated"


def run_three_sagas(make_world: WorldFactory, processor: Callable[[], SpanProcessor]) -> TracedRun:
    world = make_world(
        timeout=timedelta(seconds=4),
        retry=RetryPolicy(max_attempts=2, initial_backoff=timedelta(milliseconds=200)),
    )
    providers = {
        name: TracerProvider(resource=Resource.create({"service.name": name}), sampler=ALWAYS_ON)
        for name in (WORKER, STARTER, *PARTICIPANTS.values())
    }
    for provider in providers.values():
        provider.add_span_processor(processor())
    tracers = {name: provider.get_tracer("test") for name, provider in providers.items()}
    world.start_worker(tracer=tracers[WORKER])
    world.start_participants(
        {service: tracers[name] for service, name in PARTICIPANTS.items()},
        credit=CREDIT,
        shipping=SHIPPING,
    )
    chosen: dict[str, int] = {}
    for index in range(1000):
        chosen.setdefault(_kind(world, index), index)
        if len(chosen) == len(KINDS):
            break
    starter = SagaStarter(world.producer, world.codec, tracer=tracers[STARTER])
    saga_ids = {kind: starter.start(world.saga, world.order(i, "t")) for kind, i in chosen.items()}
    statuses = world.wait_for(list(saga_ids.values()), timeout=90)
    assert statuses == {
        saga_ids["completed"]: "completed",
        saga_ids["compensated"]: "compensated",
        saga_ids["retried"]: "compensated",
    }
    run = TracedRun(world, saga_ids, list(providers.values()))
    run.flush()
    return run


def from_memory(spans: Sequence[ReadableSpan], trace_id: str) -> JaegerTrace:
    """What Jaeger would show of `trace_id`, from an in-memory exporter's spans."""
    mine = [s for s in spans if s.context is not None and f"{s.context.trace_id:032x}" == trace_id]
    return JaegerTrace(
        trace_id=trace_id,
        spans=tuple(
            JaegerSpan(
                span_id=f"{span.context.span_id:016x}" if span.context is not None else "",
                parent_id=f"{span.parent.span_id:016x}" if span.parent is not None else None,
                links=tuple(f"{link.context.span_id:016x}" for link in span.links),
                operation=span.name,
                service=str(span.resource.attributes["service.name"]),
                start_us=(span.start_time or 0) // 1000,
                tags=dict(span.attributes or {}),
                events=tuple(event.name for event in span.events),
            )
            for span in mine
        ),
    )


def whole(trace: JaegerTrace) -> bool:
    """Every span's parent has arrived, and the saga's last message was processed."""
    terminal = {"completed", "compensated"}
    return not trace.orphans() and any(
        span.tags.get("saga.outcome") in terminal for span in trace.spans
    )


# --- the checks --------------------------------------------------------------------------------


def _of(trace: JaegerTrace, service: str, prefix: str) -> list[JaegerSpan]:
    return sorted(
        (s for s in trace.spans if s.service == service and s.operation.startswith(prefix)),
        key=lambda s: s.start_us,
    )


def check_tree(trace: JaegerTrace, kind: str, saga_id: str, world: World) -> None:
    spans = trace.by_id()
    assert trace.orphans() == [], [s.operation for s in trace.orphans()]
    # The start is the root, sent by the caller.
    [root] = trace.roots()
    assert (root.service, root.operation) == (STARTER, f"send {world.saga.start_topic}")
    assert root.tags["saga.id"] == saga_id
    # Every worker span that processes a message hangs under the send of that message.
    processed = _of(trace, WORKER, "process ")
    assert processed, "no worker spans"
    for span in processed:
        assert span.parent_id is not None
        parent = spans[span.parent_id]
        assert parent.operation.startswith("send "), (span.operation, parent.operation)
        assert span.tags["saga.id"] == saga_id
        assert span.tags["messaging.system"] == "kafka"
        assert span.tags["messaging.operation.type"] == "process"
    assert processed[0].parent_id == root.span_id
    # Every command the relay sent hangs under the worker span whose decision issued it, and
    # every participant's processing of it under that send, with its handler and its reply.
    sends = _of(trace, WORKER, "send ")
    commands = [s for s in sends if "saga.timer.id" not in s.tags]
    for send in commands:
        assert send.parent_id is not None
        assert spans[send.parent_id].operation.startswith("process "), send.operation
    for name in PARTICIPANTS.values():
        for span in _of(trace, name, "process "):
            assert span.parent_id is not None
            parent = spans[span.parent_id]
            topic = span.tags["messaging.destination.name"]
            assert (parent.service, parent.operation) == (WORKER, f"send {topic}")
            assert (span.tags["saga.step"], span.tags["saga.attempt"]) == (
                parent.tags["saga.step"],
                parent.tags["saga.attempt"],
            )
            children = [c.operation for c in trace.children(span.span_id)]
            # A handler, then its reply (a silent handler sends none, a repeat runs none).
            handlers = [c for c in children if c.startswith("handle ")][:1]
            replies = [c for c in children if c == f"send {world.saga.reply_topic}"][:1]
            assert children == handlers + replies, children
    order = [
        (s.service, c.operation.removeprefix("handle "), int(str(s.tags["saga.attempt"])))
        for s in sorted(trace.spans, key=lambda s: s.start_us)
        if s.service in PARTICIPANTS.values()
        for c in trace.children(s.span_id)
        if c.operation.startswith("handle ")
    ]
    credit, inventory, shipping = PARTICIPANTS.values()
    if kind == "completed":
        assert trace.services == {STARTER, WORKER, *PARTICIPANTS.values()}
        assert order == [
            (credit, "ReserveCredit", 1),
            (inventory, "ReserveInventory", 1),
            (shipping, "ScheduleShipment", 1),
        ]
        assert processed[-1].tags["saga.outcome"] == "completed"
    elif kind == "compensated":
        assert order == [
            (credit, "ReserveCredit", 1),
            (inventory, "ReserveInventory", 1),
            (shipping, "ScheduleShipment", 1),
            (inventory, "ReleaseInventory", 1),
            (credit, "ReleaseCredit", 1),
        ]
        # The compensations were decided after the failed step's reply, and in reverse order.
        failed = next(s for s in processed if s.tags.get("saga.outcome") == "compensating")
        assert failed.tags["saga.step"] == "schedule_shipment"
        undo = [s for s in commands if s.start_us > failed.start_us]
        assert [s.tags["saga.step"] for s in undo] == ["reserve_inventory", "reserve_credit"]
        assert all(spans[s.parent_id].start_us >= failed.start_us for s in undo if s.parent_id)
        assert processed[-1].tags["saga.outcome"] == "compensated"
    else:
        # Attempt 1 of credit went unanswered; its timeout fired (a send of the worker's timer
        # poller, in the saga's trace), the retry went out as attempt 2, was answered by the
        # inbox as a repeat (no handler ran, no reply), timed out, and credit was released.
        forward = [s for s in commands if s.tags["saga.compensation"] is False]
        assert [s.tags["saga.attempt"] for s in forward] == [1, 2]
        assert {s.tags["saga.step"] for s in forward} == {"reserve_credit"}
        timers = [s for s in sends if "saga.timer.id" in s.tags]
        assert len(timers) >= 3, "step timeout, retry backoff and second timeout all fire"
        for timer in timers:
            assert [c.service for c in trace.children(timer.span_id)] == [WORKER]
        assert timers[0].start_us < forward[1].start_us
        attempts = _of(trace, credit, "process ")
        assert [(s.tags["saga.attempt"], s.tags["saga.outcome"]) for s in attempts[:2]] == [
            (1, "no_reply"),
            (2, "duplicate"),
        ]
        assert order == [(credit, "ReserveCredit", 1), (credit, "ReleaseCredit", 1)]
        assert processed[-1].tags["saga.outcome"] == "compensated"
