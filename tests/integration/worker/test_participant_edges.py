"""One effect per step at the participant, whatever the timing, on the real broker and database:
a participant slower than the step timeout, the retry landing on a second instance while the
first is still inside its handler, and a compensation that overtakes its command."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import psycopg
from confluent_kafka import TopicPartition

from orchestrator.participant import CommandContext
from orchestrator.saga import RetryPolicy
from sagas.order_services import Behaviour
from tests.integration.worker.conftest import EventRow, World, WorldFactory, commands
from tests.support import eventually

INVENTORY = "reserve_inventory"


def effect_counts(world: World) -> Counter[tuple[str, str, str]]:
    """(service, order id, action) -> how many times the service applied it."""
    return Counter((service, order, action) for service, _, order, action in world.effects())


def assert_nothing_leaks(world: World, order_id: str, status: str) -> None:
    """At most one effect per step, and every reservation the saga did not keep released."""
    effects = effect_counts(world)
    for (service, order, action), count in effects.items():
        assert count == 1, f"{service} applied {action} of {order} {count} times: {effects}"
    reserved = {s for s, o, a in effects if o == order_id and a == "reserve"}
    released = {s for s, o, a in effects if o == order_id and a == "release"}
    if status == "completed":
        assert reserved == {"credit", "inventory", "shipping"}
        assert released == set()
    else:
        # A compensation may find nothing to undo (its step never ran); it must not miss one.
        assert reserved <= released, f"{status}: reserved {reserved}, released {released}"


def inbox_waiters(world: World) -> int:
    """Sessions of the world's database waiting for another transaction in an inbox claim."""
    with psycopg.connect(world.owner_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [world.db_name, 'INSERT INTO "participant_inbox"%'],
        ).fetchone()
    return 0 if row is None else int(row[0])


def succeeded_attempt(rows: list[EventRow], step: str) -> int | None:
    for row in rows:
        if row.event_type == "StepSucceeded" and row.data["step"] == step:
            return int(row.data["attempt"])
    return None


def test_a_participant_slower_than_the_timeout_executes_the_step_once(
    make_world: WorldFactory,
) -> None:
    # Inventory takes 6 s to answer a 4 s timeout: attempt 1 times out, attempt 2 is sent while
    # attempt 1 is still running, and finds attempt 1's recorded reply.
    world = make_world(timeout=timedelta(seconds=4))
    world.start_participants(inventory=Behaviour(latency_s=6.0))
    world.start_worker()
    (saga_id,) = world.start_orders(1)
    status = world.wait_for([saga_id], timeout=90)[saga_id]
    rows = world.events([saga_id])
    inventory = [r for r in commands(rows, compensation=False) if r.data["step"] == INVENTORY]
    assert len(inventory) >= 2, "the test needs a retry while the slow handler runs"
    assert len({r.data["message_id"] for r in inventory}) == len(inventory)
    assert status == "completed", [r.event_type for r in rows]
    # The retry was answered with the first attempt's reply, addressed to the retry.
    assert (succeeded_attempt(rows, INVENTORY) or 0) >= 2
    assert_nothing_leaks(world, world.order(0).order_id, status)


def test_a_retry_read_by_a_second_instance_waits_for_the_first_and_takes_its_answer(
    make_world: WorldFactory,
) -> None:
    # No inventory instance runs until attempt 2 is on the topic. Then instance A reads from the
    # start and is held inside attempt 1's handler; instance B, another group, reads from
    # attempt 2 on. B must wait for A's claim of the step, then answer with A's reply. (A
    # runs only after attempt 2 is published because the relay withholds events committed
    # after a transaction still open anywhere on the server, such as A's.)
    world = make_world(timeout=timedelta(seconds=8))
    inside, release = threading.Event(), threading.Event()

    def hold_first_attempt(ctx: CommandContext) -> None:
        if ctx.attempt == 1:
            inside.set()
            assert release.wait(60), "the test never released the first instance"

    world.start_participant("credit", Behaviour())
    world.start_participant("shipping", Behaviour())
    world.start_worker()
    (saga_id,) = world.start_orders(1)
    topic = world.saga.definition.steps[INVENTORY].topic
    records = world.read_topic(topic, expected=2, timeout=60)
    retry = next(r for r in records if r.header("saga_attempt") == "2")
    try:
        world.start_participant("inventory", Behaviour(hold=hold_first_attempt), instance="-a")
        assert inside.wait(60), "attempt 1 never reached the first inventory instance"
        probe = world.consumer(f"participant-inventory-b-{world.suffix}")
        try:
            probe.commit(
                offsets=[TopicPartition(topic, retry.partition, retry.offset)], asynchronous=False
            )
        finally:
            probe.close()
        world.start_participant("inventory", Behaviour(), instance="-b")
        # B has the retry and waits on A's claim of the step.
        eventually(
            lambda: inbox_waiters(world),
            "second instance waiting on the inbox (sessions waiting)",
            until=lambda waiting: waiting > 0,
            interval=0.05,
        )
        assert not [e for e in world.effects() if e[0] == "inventory"]
    finally:
        release.set()
    status = world.wait_for([saga_id], timeout=60)[saga_id]
    rows = world.events([saga_id])
    assert status in ("completed", "compensated"), [r.event_type for r in rows]
    if status == "completed":
        assert (succeeded_attempt(rows, INVENTORY) or 0) >= 2  # answered with A's reply
    assert_nothing_leaks(world, world.order(0).order_id, status)


def test_a_compensation_that_overtakes_its_command_gets_the_command_refused(
    make_world: WorldFactory,
) -> None:
    # No inventory instance reads commands at first: the step times out, and its compensation,
    # on a topic of its own, reaches an instance that handles compensations only.
    world = make_world(
        timeout=timedelta(seconds=2),
        retry=RetryPolicy(max_attempts=1),
        compensation_topics=True,
    )
    world.start_participant("credit", Behaviour())
    world.start_participant("shipping", Behaviour())
    world.start_participant("inventory", Behaviour(), instance="-undo", compensations_only=True)
    world.start_worker()
    (saga_id,) = world.start_orders(1)
    order_id = world.order(0).order_id
    assert world.wait_for([saga_id], timeout=60)[saga_id] == "compensated"
    assert ("inventory", order_id, "release") in effect_counts(world)
    # Now the command arrives, late: it is not executed but answered with CommandRefused,
    # which the (finished) saga records as a late reply.
    world.start_participant("inventory", Behaviour(), instance="-late")
    rows = world.wait_events(
        saga_id,
        lambda rows: any(
            r.event_type == "ReplyIgnored"
            and r.data["received"]["message_type"] == "saga.orchestrator.CommandRefused"
            for r in rows
        ),
        "refusal of the late inventory command",
    )
    refused = next(
        r.data["received"]
        for r in rows
        if r.event_type == "ReplyIgnored"
        and r.data["received"]["message_type"] == "saga.orchestrator.CommandRefused"
    )
    assert (refused["step"], refused["attempt"]) == (INVENTORY, 1)
    assert refused["payload"]["reason"] == "compensated"
    assert ("inventory", order_id, "reserve") not in effect_counts(world)
    assert_nothing_leaks(world, order_id, "compensated")
