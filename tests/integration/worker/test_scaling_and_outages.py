"""Several workers in one consumer group share the sagas (nothing may assume it is alone), and
a PostgreSQL outage pauses consumption instead of dead-lettering healthy messages."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from sagas.order_services import Behaviour
from tests.integration.worker.conftest import (
    TERMINAL,
    World,
    assert_single_decisions,
)
from tests.support import Background, eventually


def _assert_effects_once(world: World, orders: int) -> None:
    per_order = Counter(
        (service, order_id, action) for service, _, order_id, action in world.effects()
    )
    assert len(per_order) == 3 * orders
    assert set(per_order.values()) == {1}, "a command was applied twice"


@pytest.mark.timeout(180)
def test_two_workers_share_one_group_and_rebalance_mid_run(world: World) -> None:
    first = world.start_worker("w1")
    world.start_participants(inventory=Behaviour(latency_s=0.01))
    saga_ids = world.start_orders(50)
    eventually(
        lambda: sum(s in TERMINAL for s in world.statuses(saga_ids).values()),
        "5 sagas finished with one worker",
        until=lambda finished: finished >= 5,
        timeout=60,
        check=world.check_alive,
    )

    # The second worker joins while sagas are in flight: partitions move (cooperative
    # rebalance), the first worker's cached states for them are dropped.
    second = world.start_worker("w2")
    eventually(
        second.assigned,
        "the second worker got partitions",
        until=lambda assigned: assigned > 0,
        timeout=60,
        check=world.check_alive,
    )
    assert first.assigned() > 0, "the first worker lost every partition"
    batches_before = second.worker.batches
    saga_ids += world.start_orders(50, prefix="more")

    statuses = world.wait_for(saga_ids, timeout=90)

    assert Counter(statuses.values()) == {"completed": 100}
    assert second.worker.batches > batches_before, "the second worker processed nothing"
    assert first.assigned() + second.assigned() == 8  # 4 start + 4 reply partitions
    assert_single_decisions(world.streams(saga_ids))
    _assert_effects_once(world, 100)
    # A conflict storm would have dead-lettered messages (handler_error) or parked sagas.
    assert sum(world.dead_letter_counts().values()) == 0


def _set_connections(world: World, allowed: bool) -> None:
    with psycopg.connect(world.superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(world.db_name), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [world.db_name],
            )


@pytest.mark.timeout(180)
def test_postgres_outage_pauses_the_worker_and_dead_letters_nothing(world: World) -> None:
    worker = world.start_worker()
    world.start_participants(inventory=Behaviour(latency_s=0.01))
    saga_ids = world.start_orders(20)
    world.wait_for(saga_ids[:1], lambda s: s in TERMINAL, what="terminal")

    paused: list[float] = []

    def watch(stop: threading.Event) -> None:
        # A sampler, not a wait: the gauge is read every 50 ms for the whole outage.
        while not stop.wait(0.05):
            paused.append(worker.paused())

    watcher = Background(watch, name="paused-gauge-watcher")
    _set_connections(world, allowed=False)
    try:
        watcher.start()
        # New input while the database is gone: the worker must hold it, not dead-letter it.
        saga_ids += world.start_orders(20, prefix="during")
        eventually(
            lambda: max(paused, default=0.0),
            "saga_worker_paused became 1 during the outage (its highest sample)",
            until=lambda highest: highest == 1.0,
            timeout=20,
            check=world.check_alive,
        )
        time.sleep(2)  # an outage of a few seconds, with the worker paused: the point here
    finally:
        _set_connections(world, allowed=True)

    statuses = world.wait_for(saga_ids, timeout=90)
    watcher.stop(5)

    assert Counter(statuses.values()) == {"completed": 40}
    assert worker.paused() == 0.0, "still paused after the database came back"
    assert sum(world.dead_letter_counts().values()) == 0, world.dead_letter_counts()
    assert_single_decisions(world.streams(saga_ids))
    _assert_effects_once(world, 40)
