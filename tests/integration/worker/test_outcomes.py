"""End-to-end outcomes of the order saga through one in-process worker and the simulated
services: completion, compensation in reverse order, timeouts with retry (invariants 1, 4, 6)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from orchestrator.saga import RetryPolicy
from sagas.order_services import Behaviour
from tests.integration.worker.conftest import (
    World,
    WorldFactory,
    assert_single_decisions,
    commands,
)

FORWARD = ["reserve_credit", "reserve_inventory", "schedule_shipment"]


def test_happy_path_completes_every_order_with_one_effect_per_service(world: World) -> None:
    world.start_worker()
    world.start_participants()
    saga_ids = world.start_orders(20)

    statuses = world.wait_for(saga_ids)

    assert Counter(statuses.values()) == {"completed": 20}
    streams = world.streams(saga_ids)
    assert_single_decisions(streams)
    for saga_id, rows in streams.items():
        issued = commands(rows)
        assert [row.data["step"] for row in issued] == FORWARD, saga_id
        assert all(row.data["attempt"] == 1 for row in issued), saga_id
        assert rows[-1].event_type == "SagaCompleted", saga_id
    effects = world.effects()
    per_order = Counter((service, order_id, action) for service, _, order_id, action in effects)
    orders = {world.order(i).order_id for i in range(20)}
    assert set(per_order) == {
        (service, order_id, "reserve")
        for service in ("credit", "inventory", "shipping")
        for order_id in orders
    }
    assert set(per_order.values()) == {1}, "a command was applied twice"
    issued_ids = {row.data["message_id"] for rows in streams.values() for row in commands(rows)}
    assert {message_id for _, message_id, _, _ in effects} == issued_ids
    assert sum(world.dead_letter_counts().values()) == 0


def test_shipping_failure_compensates_completed_steps_in_reverse_order(world: World) -> None:
    world.start_worker()
    world.start_participants(shipping=Behaviour(failure_rate=1.0))
    saga_ids = world.start_orders(10)

    statuses = world.wait_for(saga_ids)

    assert Counter(statuses.values()) == {"compensated": 10}
    streams = world.streams(saga_ids)
    assert_single_decisions(streams)
    for saga_id, rows in streams.items():
        types = [row.event_type for row in rows]
        assert "StepFailed" in types, (saga_id, types)
        assert types[-1] == "SagaCompensated", (saga_id, types)
        failed = next(row for row in rows if row.event_type == "StepFailed")
        assert failed.data["step"] == "schedule_shipment"
        assert failed.data["reason"] == "rejected"
        undo = [row.data["step"] for row in commands(rows, compensation=True)]
        # Completed: credit then inventory; undone: inventory then credit. Shipping never
        # executed (it said no), so it is not compensated.
        assert undo == ["reserve_inventory", "reserve_credit"], (saga_id, undo)
        assert [row.data["step"] for row in rows if row.event_type == "StepCompensated"] == [
            "reserve_inventory",
            "reserve_credit",
        ]
    actions = Counter((service, action) for service, _, _, action in world.effects())
    assert actions == {
        ("credit", "reserve"): 10,
        ("credit", "release"): 10,
        ("inventory", "reserve"): 10,
        ("inventory", "release"): 10,
    }
    per_order = Counter((s, o, a) for s, _, o, a in world.effects())
    assert set(per_order.values()) == {1}


def test_silent_inventory_times_out_retries_then_compensates_both_steps(
    make_world: WorldFactory,
) -> None:
    world = make_world(
        timeout=timedelta(seconds=2),
        retry=RetryPolicy(max_attempts=2, initial_backoff=timedelta(milliseconds=200)),
    )
    world.start_worker()
    world.start_participants(inventory=Behaviour(silence_rate=1.0))
    saga_ids = world.start_orders(3)

    statuses = world.wait_for(saga_ids)

    assert Counter(statuses.values()) == {"compensated": 3}
    streams = world.streams(saga_ids)
    assert_single_decisions(streams)
    for saga_id, rows in streams.items():
        timed_out = [
            (row.data["step"], row.data["attempt"])
            for row in rows
            if row.event_type == "StepTimedOut"
        ]
        assert timed_out == [("reserve_inventory", 1), ("reserve_inventory", 2)], saga_id
        forward = [(r.data["step"], r.data["attempt"]) for r in commands(rows, compensation=False)]
        assert forward == [
            ("reserve_credit", 1),
            ("reserve_inventory", 1),
            ("reserve_inventory", 2),
        ]
        failed = next(row for row in rows if row.event_type == "StepFailed")
        assert (failed.data["step"], failed.data["reason"]) == ("reserve_inventory", "timed_out")
        undo = [row.data["step"] for row in commands(rows, compensation=True)]
        # The timed-out step may have executed: it is compensated too, and first.
        assert undo == ["reserve_inventory", "reserve_credit"], (saga_id, undo)
        assert rows[-1].event_type == "SagaCompensated"
        assert "schedule_shipment" not in {row.data.get("step") for row in rows}
    actions = Counter((service, action) for service, _, _, action in world.effects())
    assert actions == {
        ("credit", "reserve"): 3,
        ("credit", "release"): 3,
        ("inventory", "release"): 3,
    }
