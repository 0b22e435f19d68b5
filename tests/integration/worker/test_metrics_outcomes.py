"""Every outcome of `saga_messages_consumed_total` moves, once per consumed message, as a real
worker serves it on /metrics: processed, duplicate (a redelivery recognised by message id),
ignored (the decider recorded and ignored it) and dead_lettered."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import headers as h
from orchestrator.observability import serve_http
from orchestrator.observability._metrics import CONSUME_OUTCOMES
from sagas.order_messages import CreditReserved
from tests.integration.worker.conftest import RunningWorker, World

ORDERS = 3
STEPS = 3  # replies per completed order saga


@pytest.fixture
def metrics_port(world: World) -> Iterator[tuple[RunningWorker, int]]:
    running = world.start_worker()
    with serve_http(0, running.metrics_registry, running.health, host="127.0.0.1") as server:
        yield running, server.port


def _consumed(port: int) -> dict[tuple[str, str], float]:
    """saga_messages_consumed_total by (topic, outcome), parsed from the /metrics text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200
        text = response.read().decode()
    finally:
        conn.close()
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "saga_messages_consumed":
            continue
        for sample in family.samples:
            if sample.name == "saga_messages_consumed_total":
                counts[(sample.labels["topic"], sample.labels["outcome"])] = sample.value
    return counts


@pytest.mark.timeout(120)
def test_each_outcome_is_counted_once_per_message_on_metrics(
    world: World, metrics_port: tuple[RunningWorker, int]
) -> None:
    _running, port = metrics_port
    start_topic, reply_topic = world.saga.start_topic, world.saga.reply_topic
    world.start_participants()
    saga_ids = world.start_orders(ORDERS)
    world.wait_for(saga_ids, "completed".__eq__)
    saga_id = saga_ids[0]

    # duplicate: the same start again (a client retry: same saga, same message id)
    world.start_orders(1)
    # ignored: a second start for the same business key under another message id
    world.produce(
        start_topic,
        world.codec.encode(start_topic, world.order(0)),
        key=saga_id.encode(),
        headers=[(h.MESSAGE_ID, "second-start"), (h.SAGA_ID, saga_id)],
    )
    # ignored, then duplicate: a late reply for a step that already succeeded, twice
    late = world.codec.encode(
        reply_topic, CreditReserved(order_id=world.order(0).order_id, reservation_id="late")
    )
    late_headers: list[tuple[str, str | bytes]] = [
        (h.MESSAGE_ID, "late-credit-reply"),
        (h.SAGA_ID, saga_id),
        (h.STEP, "reserve_credit"),
        (h.ATTEMPT, "1"),
    ]
    for _ in range(2):
        world.produce(reply_topic, late, key=saga_id.encode(), headers=late_headers)
    # dead_lettered: garbage on the start topic; garbage for an existing saga on the reply
    # topic (which also parks it: that parking is not a consumed message); a reply for a saga
    # that does not exist
    world.produce(start_topic, b"\x00garbage", key=b"nobody", headers=[])
    world.produce(reply_topic, b"\x00garbage", key=saga_id.encode(), headers=[])
    ghost = "00000000-0000-4000-8000-000000000000"
    world.produce(
        reply_topic,
        late,
        key=ghost.encode(),
        headers=[(h.MESSAGE_ID, "ghost-reply"), (h.SAGA_ID, ghost), (h.STEP, "reserve_credit")],
    )
    world.wait_committed(world.worker_routes_consumed())

    expected = {
        (start_topic, "processed"): ORDERS,
        (start_topic, "duplicate"): 1,
        (start_topic, "ignored"): 1,
        (start_topic, "dead_lettered"): 1,
        (reply_topic, "processed"): ORDERS * STEPS,
        (reply_topic, "duplicate"): 1,
        (reply_topic, "ignored"): 1,
        (reply_topic, "dead_lettered"): 2,
    }
    assert {outcome for _, outcome in expected} == set(CONSUME_OUTCOMES)
    consumed = _consumed(port)
    assert {key: consumed.get(key) for key in expected} == expected
    assert world.dead_letter_counts()[f"{start_topic}.dlt"] == 1
    assert world.dead_letter_counts()[f"{reply_topic}.dlt"] == 2
