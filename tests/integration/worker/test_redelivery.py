"""Redelivered and late messages change nothing (invariant 4), and the outbox publishes a
committed command with its stable message id even when it was committed while no relay ran
(invariant 1: a command reaches Kafka only after its event, and is never lost)."""

from __future__ import annotations

import signal
import uuid
from collections import Counter

import pytest

from orchestrator import headers as h
from orchestrator.participant import reply_message_id
from orchestrator.runtime import ConsumedRecord
from orchestrator.runtime import PostgresLeaderLease as LeaderLease
from sagas.order_messages import CreditReserved
from tests.integration.worker.conftest import World, assert_single_decisions, commands


def _reply_to(world: World, command: ConsumedRecord, *, message_id: str | None = None) -> None:
    """Answer `command` with CreditReserved, exactly as the credit participant would (or with
    another message id)."""
    order_id = world.order(0).order_id
    reply_topic = command.header(h.REPLY_TOPIC)
    assert reply_topic == world.saga.reply_topic
    saga_id = command.header(h.SAGA_ID)
    assert saga_id is not None
    world.produce(
        reply_topic,
        world.codec.encode(reply_topic, CreditReserved(order_id=order_id, reservation_id="r-1")),
        key=saga_id.encode(),
        headers=[
            (h.MESSAGE_ID, message_id or reply_message_id(command.header(h.MESSAGE_ID) or "")),
            (h.SAGA_ID, saga_id),
            (h.SAGA_TYPE, command.header(h.SAGA_TYPE) or ""),
            (h.STEP, command.header(h.STEP) or ""),
            (h.ATTEMPT, command.header(h.ATTEMPT) or ""),
            (h.CAUSATION_ID, command.header(h.MESSAGE_ID) or ""),
        ],
    )


def test_duplicate_and_late_replies_change_nothing(world: World) -> None:
    world.start_worker()
    [saga_id] = world.start_orders(1)
    credit_topic = world.saga.definition.steps["reserve_credit"].topic
    [command] = world.read_topic(credit_topic, expected=1)
    assert command.header(h.SAGA_ID) == saga_id

    # The participant's reply, delivered twice (a producer retry, a participant crash after
    # sending): one decision only.
    _reply_to(world, command)
    _reply_to(world, command)
    # Then an answer to the same attempt under another id: the step is no longer running, so
    # it is late, recorded as ignored, and changes no state.
    late_id = f"late-{uuid.uuid4()}"
    _reply_to(world, command, message_id=late_id)
    rows = world.wait_events(
        saga_id, lambda rows: rows[-1].event_type == "ReplyIgnored", "ReplyIgnored"
    )

    reply_id = reply_message_id(command.header(h.MESSAGE_ID) or "")
    succeeded = [row for row in rows if row.event_type == "StepSucceeded"]
    assert [row.data["received"]["message_id"] for row in succeeded] == [reply_id]
    ignored = rows[-1]
    assert ignored.data["reason"] == "late_reply"
    assert ignored.data["received"]["message_id"] == late_id
    # Nothing between the success and the late reply came from the duplicate.
    causes = Counter(str(row.metadata["causation_id"]) for row in rows)
    assert causes[late_id] == 1
    assert [row.data["step"] for row in commands(rows)] == ["reserve_credit", "reserve_inventory"]

    # The real services now run: credit sees the command already answered by hand and sends
    # the same reply id again (a third delivery), the others complete the saga.
    before = len(rows)
    world.start_participants()
    statuses = world.wait_for([saga_id])
    assert statuses == {saga_id: "completed"}
    # A duplicate start (same order, same start message id) after completion: nothing.
    world.start_orders(1)
    world.wait_committed(world.worker_routes_consumed())

    streams = world.streams([saga_id])
    assert_single_decisions(streams)
    rows = streams[saga_id]
    types = [row.event_type for row in rows]
    assert types.count("SagaStarted") == 1
    assert types.count("SagaCompleted") == 1
    assert types.count("StepSucceeded") == 3
    assert types.count("ReplyIgnored") == 1, "the redelivered reply was recorded"
    new = [row.event_type for row in rows[before:]]
    assert "ReplyIgnored" not in new, new
    assert Counter(e[0] for e in world.effects()) == {"credit": 1, "inventory": 1, "shipping": 1}


def wait_for_first_commands(world: World, saga_ids: list[str]) -> None:
    for saga_id in saga_ids:
        world.wait_events(
            saga_id,
            lambda rows: any(row.event_type == "CommandIssued" for row in rows),
            "CommandIssued",
        )


def test_commands_committed_while_no_relay_ran_are_published_with_their_message_id(
    world: World,
) -> None:
    # The test holds the leader lease of the world's database: the worker decides and appends,
    # but its housekeeping (projector, outbox relay, timers) never runs. That is the state a
    # worker killed between its commit and its relay's publish leaves behind.
    lease = LeaderLease(world.app_url, world.settings.consumer_group)
    assert lease.holds()
    try:
        world.start_worker()
        saga_ids = world.start_orders(5)
        wait_for_first_commands(world, saga_ids)
        credit_topic = world.saga.definition.steps["reserve_credit"].topic
        world.wait_committed([world.saga.start_topic])
        assert world.message_counts([credit_topic]) == {credit_topic: 0}, (
            "a command was published without the relay"
        )
    finally:
        lease.release()

    # The worker takes the lease over and its relay catches up from the outbox checkpoint.
    published = world.read_topic(credit_topic, expected=5)
    issued = {saga_id: commands(rows)[0].data for saga_id, rows in world.streams(saga_ids).items()}
    assert len(published) == 5, [r.coordinates for r in published]
    for record in published:
        saga_id = record.header(h.SAGA_ID)
        assert saga_id in issued
        event = issued[saga_id]
        assert record.header(h.MESSAGE_ID) == event["message_id"]
        assert record.header(h.STEP) == "reserve_credit"
        assert record.header(h.ATTEMPT) == "1"
        assert record.key == saga_id.encode()
    # And the sagas go on from there.
    world.start_participants()
    assert Counter(world.wait_for(saga_ids).values()) == {"completed": 5}
    assert sum(world.dead_letter_counts().values()) == 0


@pytest.mark.timeout(240)
def test_a_worker_killed_between_commit_and_publish_is_recovered_by_its_successor(
    world: World,
) -> None:
    # Issue #6, outbox point: the worker process commits CommandIssued events and is SIGKILLed
    # before any of them is published (the test holds the relay lease, so its relay cannot
    # run). A new worker process publishes them with their original message ids, and the
    # sagas go on to complete with one effect per service.
    lease = LeaderLease(world.app_url, world.settings.consumer_group)
    assert lease.holds()
    first = world.spawn_worker("first")
    try:
        saga_ids = world.start_orders(5)
        wait_for_first_commands(world, saga_ids)
        credit_topic = world.saga.definition.steps["reserve_credit"].topic
        assert world.message_counts([credit_topic]) == {credit_topic: 0}
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        lease.release()
    world.start_participants()
    world.spawn_worker("second")
    published = world.read_topic(credit_topic, expected=5, timeout=60)
    issued = {saga_id: commands(rows)[0].data for saga_id, rows in world.streams(saga_ids).items()}
    assert sorted(r.header(h.MESSAGE_ID) or "" for r in published) == sorted(
        event["message_id"] for event in issued.values()
    )
    # The second worker owns the partitions once the killed member's session ends.
    assert world.wait_for(saga_ids, timeout=120) == dict.fromkeys(saga_ids, "completed")
    assert Counter(e[0] for e in world.effects()) == {"credit": 5, "inventory": 5, "shipping": 5}
