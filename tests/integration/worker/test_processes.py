"""The worker as the process operators run (`python -m orchestrator.cli worker`): killed with
SIGKILL mid-run it loses and doubles nothing (invariant 4); stopped with SIGTERM it exits 0
with its offsets committed."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from datetime import timedelta

import pytest

from event_store.postgres import PostgresEventStore
from sagas.order_services import Behaviour
from tests.integration.worker.conftest import (
    WorldFactory,
    assert_single_decisions,
    commands,
)
from tests.support import eventually

STEP_OF_SERVICE = {
    "credit": "reserve_credit",
    "inventory": "reserve_inventory",
    "shipping": "schedule_shipment",
}


def _wait_exit(child: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return child.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"worker {child.pid} still running {timeout:.0f}s after the signal"
        ) from None


@pytest.mark.timeout(300)
def test_sigkill_mid_run_then_restart_loses_and_doubles_nothing(make_world: WorldFactory) -> None:
    # Long step timeouts: the restarted worker waits out the dead member's session (45 s),
    # and no step may time out meanwhile, so every command is issued exactly once.
    world = make_world(timeout=timedelta(minutes=5))
    # Latency per inventory command (about 10 s for all of them) keeps the run going long
    # enough to kill it in the middle.
    world.start_participants(inventory=Behaviour(latency_s=0.1))
    first = world.spawn_worker("first")
    saga_ids = world.start_orders(100)

    def first_alive() -> None:
        world.check_alive()
        assert first.poll() is None, world.child_log("first")

    eventually(
        lambda: sum(service == "inventory" for service, *_ in world.effects()),
        "the first worker got 10 inventory commands done",
        until=lambda done: done >= 10,
        timeout=60,
        check=first_alive,
    )
    first.send_signal(signal.SIGKILL)
    assert _wait_exit(first, 10) == -signal.SIGKILL
    at_kill = Counter(world.statuses(saga_ids).values())
    assert at_kill["completed"] < 100, f"the run finished before the kill: {at_kill}"

    world.spawn_worker("second")
    try:
        statuses = world.wait_for(saga_ids, timeout=150)
    except AssertionError as exc:
        # Enough to tell a lost command from a lost reply from a stuck consumer.
        current = world.statuses(saga_ids)
        stuck = [saga_id for saga_id in saga_ids if current.get(saga_id) != "completed"]
        tails = {
            saga_id: [(r.event_type, r.data.get("step")) for r in world.events([saga_id])][-3:]
            for saga_id in stuck[:3]
        }
        raise AssertionError(
            f"{exc}\nstuck sagas end with {tails}\n"
            f"effects {Counter(e[0] for e in world.effects())}\n"
            f"command topics {world.message_counts(sorted(world.registry.command_topics))}\n"
            f"group lag {world.committed_lag(world.worker_routes_consumed())}\n"
            f"second worker log tail:\n{world.child_log('second')[-2000:]}"
        ) from None

    assert Counter(statuses.values()) == {"completed": 100}, world.child_log("second")
    streams = world.streams(saga_ids)
    assert_single_decisions(streams)
    issued: dict[tuple[str, str], list[str]] = {}
    for saga_id, rows in streams.items():
        order_id = rows[0].data["business_key"]
        for row in commands(rows):
            assert row.data["attempt"] == 1, (saga_id, row.data)
            issued.setdefault((row.data["step"], order_id), []).append(row.data["message_id"])
    effects = world.effects()
    per_order = Counter((service, order_id) for service, _, order_id, _ in effects)
    assert set(per_order.values()) == {1}, "a command was applied twice"
    assert len(per_order) == 300
    for service, message_id, order_id, action in effects:
        assert action == "reserve"
        assert issued[(STEP_OF_SERVICE[service], order_id)] == [message_id]
    with PostgresEventStore(world.app_url) as store:
        report = store.verify()
    assert report.ok, report.breaks
    assert sum(world.dead_letter_counts().values()) == 0


@pytest.mark.timeout(180)
def test_sigterm_exits_zero_with_offsets_committed(make_world: WorldFactory) -> None:
    world = make_world()
    world.start_participants()
    first = world.spawn_worker("first")
    saga_ids = world.start_orders(20)
    world.wait_for(saga_ids, timeout=90)

    first.send_signal(signal.SIGTERM)
    assert _wait_exit(first, 15) == 0, world.child_log("first")
    # Committed on the way out: nothing the worker consumed is left to be consumed again.
    consumed = world.worker_routes_consumed()
    lag = world.committed_lag(consumed)
    assert lag, "no offsets committed at all"
    assert {tp: n for tp, n in lag.items() if n} == {}
    before = {saga_id: len(rows) for saga_id, rows in world.streams(saga_ids).items()}

    # A new worker in the same group starts after those offsets: it appends nothing to the
    # old sagas, and handles new input.
    world.spawn_worker("second")
    [late] = world.start_orders(1, prefix="late")
    assert world.wait_for([late], timeout=90) == {late: "completed"}
    world.wait_committed(consumed)
    after = {saga_id: len(rows) for saga_id, rows in world.streams(saga_ids).items()}
    assert after == before
    assert world.event_count() == sum(before.values()) + len(world.events([late]))
