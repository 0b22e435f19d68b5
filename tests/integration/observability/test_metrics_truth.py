"""The worker's metrics tell the truth: a known mix of sagas (completed, compensated, failed,
parked, one left waiting) through a real worker with its metrics port open; `/metrics` is
scraped over HTTP and read with Prometheus' own text parser, and every saga counter equals what
the event log says happened, the gauges what the projection says is so."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from orchestrator import headers as h
from orchestrator.observability import serve_http
from orchestrator.participant import SagaStarter
from sagas.order_messages import PlaceOrder
from sagas.order_services import Behaviour, _draw
from tests.integration.worker.conftest import World, WorldFactory

GARBAGE = b"\x00\x00\x00\x7f\xffnot avro at all"
CREDIT = Behaviour(silence_rate=0.1, failure_rate=0.2)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def until(what: str, check: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"not within {within_s:.0f}s: {what}"
        time.sleep(0.3)


def truth(world: World) -> dict[str, Counter[str]]:
    """What the event log says happened: event types, and step ends by step."""
    rows = world.events()
    types = Counter(row.event_type for row in rows)
    ends = Counter(
        row.data["step"]
        for row in rows
        if row.event_type in ("StepSucceeded", "StepCompensated", "CompensationFailed")
        or (row.event_type == "StepFailed" and row.data["reason"] != "timed_out")
    )
    return {"types": types, "step_ends": ends}


def projection(world: World) -> Counter[str]:
    return Counter(world.statuses([row.stream_id for row in world.events()]).values())


def test_every_saga_counter_equals_what_happened(make_world: WorldFactory) -> None:
    world = make_world()
    world.settings = world.settings.model_copy(update={"stuck_after_s": 1})
    running = world.start_worker()
    server = serve_http(0, running.metrics_registry, running.health, host="127.0.0.1")
    saga_type = world.saga.definition.name
    try:
        world.start_participants(credit=CREDIT, shipping=Behaviour(failure_rate=0.3))
        # The simulated services decide by a hash of the order id: orders credit answers end
        # by themselves (completed, compensated when shipping says no, failed when credit
        # does); orders credit never answers wait for their 30 s step timeout.
        answered = [o for o in _orders(world, "m") if not _silent(o.order_id)][:16]
        unanswered = [o for o in _orders(world, "w") if _silent(o.order_id)][:2]
        starter = SagaStarter(world.producer, world.codec)
        mixed = [starter.start(world.saga, order) for order in answered]
        world.wait_for(mixed)
        parked, stuck = (starter.start(world.saga, order) for order in unanswered)
        world.wait_for([parked, stuck], lambda s: s == "running", what="running")
        # One of the waiting two is parked by a poison reply; the other stays in flight, and
        # is stuck once it has had no event for a second.
        world.produce(
            world.saga.reply_topic,
            GARBAGE,
            key=parked.encode(),
            headers=[(h.SAGA_ID, parked), (h.MESSAGE_ID, "poison-1")],
        )
        world.wait_for([parked], lambda s: s == "parked", what="parked")
        world.wait_committed(world.worker_routes_consumed())

        def gauge(name: str) -> float:
            return value(scrape(server.port), name, saga_type=saga_type)

        until("one saga in flight", lambda: gauge("saga_in_flight") == 1)
        until("one saga stuck", lambda: gauge("saga_stuck") == 1)
        until(
            "the outbox passed everything",
            lambda: value(scrape(server.port), "saga_outbox_backlog_events") == 0,
        )
        until(
            "no consumer lag",
            lambda: (
                sum(
                    n for (name, _), n in scrape(server.port).items() if name == "saga_consumer_lag"
                )
                == 0
            ),
        )
        samples = scrape(server.port)
        check_counters(world, samples, saga_type)
        statuses = projection(world)
        assert statuses["running"] == 1
        assert statuses["parked"] == 1
        for status in ("completed", "compensated", "failed"):
            finished = value(samples, "saga_finished_total", saga_type=saga_type, status=status)
            assert finished == statuses[status], status
        # The mix really was mixed, or the counters above proved little.
        assert {"completed", "compensated", "failed"} <= set(statuses)
    finally:
        server.close()


def _orders(world: World, prefix: str) -> list[PlaceOrder]:
    return [world.order(i, prefix) for i in range(200)]


def _silent(order_id: str) -> bool:
    return _draw(CREDIT, "credit", order_id, 1) < CREDIT.silence_rate


def check_counters(world: World, samples: Samples, saga_type: str) -> None:
    happened = truth(world)
    types, ends = happened["types"], happened["step_ends"]
    started = value(samples, "saga_started_total", saga_type=saga_type)
    assert started == types["SagaStarted"]

    def finished(status: str) -> float:
        return value(samples, "saga_finished_total", saga_type=saga_type, status=status)

    assert finished("completed") == types["SagaCompleted"]
    assert finished("compensated") == types["SagaCompensated"]
    assert finished("failed") == types["SagaFailed"]
    assert finished("cancelled") == types["SagaCancelled"]
    assert finished("compensation_failed") == types["CompensationFailed"]
    assert (
        value(samples, "saga_compensation_failed_total", saga_type=saga_type)
        == (types["CompensationFailed"])
    )
    assert value(samples, "saga_parked_total", saga_type=saga_type) == types["SagaParked"] == 1
    assert ends, "no step ended"
    for step, count in ends.items():
        name = "saga_step_duration_seconds_count"
        assert value(samples, name, saga_type=saga_type, step=step) == count, step
    dead = {labels: n for (name, labels), n in samples.items() if name == "saga_dead_letters_total"}
    assert sum(dead.values()) == 1, dead  # the one poison reply
