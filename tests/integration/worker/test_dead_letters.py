"""Poison never blocks a partition (invariant 5): it goes to `<topic>.dlt` with its original
bytes and the dead-letter headers, its saga is parked, and a redrive is recorded and unparks it."""

from __future__ import annotations

import importlib
from datetime import timedelta

from orchestrator import headers as h
from orchestrator.codec import DecodeError
from orchestrator.participant import reply_message_id
from orchestrator.runtime import redrive
from sagas.order_messages import CreditReserved
from sagas.order_services import Behaviour
from tests.integration.worker.conftest import (
    World,
    WorldFactory,
    assert_single_decisions,
    commands,
)
from tests.support import eventually

GARBAGE = b"\x00\x00\x00\x7f\xffnot avro at all"


def test_poison_reply_is_dead_lettered_parks_its_saga_and_is_redriven(
    make_world: WorldFactory,
) -> None:
    # Steps wait long for replies: this test answers some by hand, at its own pace.
    world = make_world(timeout=timedelta(minutes=5))
    world.start_worker()
    [saga_id] = world.start_orders(1)
    world.wait_for([saga_id], lambda status: status == "running", what="running")
    reply_topic = world.saga.reply_topic
    partition, offset = world.produce(
        reply_topic,
        GARBAGE,
        key=saga_id.encode(),
        headers=[(h.SAGA_ID, saga_id), (h.MESSAGE_ID, "poison-1")],
    )

    world.wait_for([saga_id], lambda status: status == "parked", what="parked")

    [dead] = world.read_topic(f"{reply_topic}.dlt", expected=1)
    assert dead.value == GARBAGE
    assert dead.key == saga_id.encode()
    assert dead.partition == partition, "a dead letter keeps its partition"
    assert dead.header(h.DLT_ORIGINAL_TOPIC) == reply_topic
    assert dead.header(h.DLT_ORIGINAL_PARTITION) == str(partition)
    assert dead.header(h.DLT_ORIGINAL_OFFSET) == str(offset)
    assert dead.header(h.DLT_CONSUMER_GROUP) == world.settings.consumer_group
    module, _, name = (dead.header(h.DLT_EXCEPTION_CLASS) or "").rpartition(".")
    error_class = getattr(importlib.import_module(module), name)
    assert issubclass(error_class, DecodeError), error_class
    assert (dead.header(h.DLT_EXCEPTION_MESSAGE) or "").startswith(f"{error_class.reason}: ")
    assert dead.header(h.DLT_EXCEPTION_STACKTRACE), dead.headers
    assert dead.header(h.DLT_ATTEMPTS) == "1"
    assert dead.header(h.SAGA_ID) == saga_id, "the original headers travel with it"
    parked = [row for row in world.events([saga_id]) if row.event_type == "SagaParked"]
    assert [(p.data["topic"], p.data["partition"], p.data["offset"]) for p in parked] == [
        (reply_topic, partition, offset)
    ]

    # The partition is not blocked: the saga's own reply behind the poison is handled. It is
    # produced by hand here because the dead-lettered garbage can never decode: the operator
    # fixes the sender and redrives what is still parked.
    [command] = world.read_topic(world.saga.definition.steps["reserve_credit"].topic, 1)
    world.produce(
        reply_topic,
        world.codec.encode(
            reply_topic,
            CreditReserved(order_id=world.order(0).order_id, reservation_id="r-1"),
        ),
        key=saga_id.encode(),
        headers=[
            (h.MESSAGE_ID, reply_message_id(command.header(h.MESSAGE_ID) or "")),
            (h.SAGA_ID, saga_id),
            (h.STEP, "reserve_credit"),
            (h.ATTEMPT, "1"),
        ],
        partition=partition,
    )
    world.wait_events(
        saga_id,
        lambda rows: any(r.event_type == "StepSucceeded" for r in rows),
        "StepSucceeded behind the poison",
    )
    assert world.lifecycle(saga_id) == "parked", "still parked until the redrive"

    outcome = redrive(
        world.settings,
        world.codec,
        world.registry,
        topic=dead.topic,
        partition=dead.partition,
        offset=dead.offset,
        actor="integration-test",
    )
    assert outcome.saga_notified
    assert outcome.to_topic == reply_topic
    assert outcome.delivery_attempt == 2

    rows = world.wait_events(
        saga_id, lambda rows: any(r.event_type == "SagaUnparked" for r in rows), "SagaUnparked"
    )
    [unparked] = [row for row in rows if row.event_type == "SagaUnparked"]
    assert (unparked.data["topic"], unparked.data["offset"]) == (reply_topic, offset)
    assert unparked.data["still_parked"] == 0
    assert world.lifecycle(saga_id) in ("running", "parked")  # parked again below, maybe yet
    # The redriven garbage is still garbage: dead-lettered again as delivery attempt 2, and
    # the saga parked again, for its new coordinates.
    redead = world.read_topic(f"{reply_topic}.dlt", expected=2)
    assert len(redead) == 2, [r.coordinates for r in redead]
    again = max(redead, key=lambda r: r.offset)
    assert again.value == GARBAGE
    assert again.header(h.DLT_ATTEMPTS) == "2"
    assert again.header(h.DELIVERY_ATTEMPT) == "2"
    assert int(again.header(h.DLT_ORIGINAL_OFFSET) or -1) > offset

    # Parked is a flag for operators, not a stop: the services finish the saga.
    world.start_participants()
    assert world.wait_for([saga_id]) == {saga_id: "completed"}
    streams = world.streams([saga_id])
    assert_single_decisions(streams)
    rows = streams[saga_id]
    types = [row.event_type for row in rows]
    assert types.count("SagaParked") == 2, types
    assert types.count("SagaUnparked") == 1, types
    assert [r.data["step"] for r in commands(rows)] == [
        "reserve_credit",
        "reserve_inventory",
        "schedule_shipment",
    ]


def test_garbage_start_is_dead_lettered_once(world: World) -> None:
    """A start that cannot be decoded has no saga to park; it is dead-lettered exactly once,
    and the good starts around it go on."""
    world.start_worker()
    world.start_participants()
    start_topic = world.saga.start_topic
    world.produce(
        start_topic,
        GARBAGE,
        key=b"whatever",
        headers=[(h.SAGA_ID, "no-such-saga"), (h.MESSAGE_ID, "bad-start")],
        partition=0,
    )
    saga_ids = world.start_orders(4)
    world.wait_for(saga_ids)
    world.wait_committed([start_topic])

    dead = world.read_topic(f"{start_topic}.dlt", expected=1)
    assert len(dead) == 1, [(r.coordinates, r.header(h.DLT_EXCEPTION_MESSAGE)) for r in dead]
    assert dead[0].value == GARBAGE
    assert world.statuses(["no-such-saga"]) == {}


def test_projection_keeps_a_parked_saga_parked_while_it_progresses(world: World) -> None:
    """saga_instances (what `sagactl saga list` and operators query) must agree with the
    replayed saga: parked until its dead letter is redriven, even when replies go on."""
    world.start_worker()
    [saga_id] = world.start_orders(1)
    world.wait_for([saga_id], lambda status: status == "running", what="running")
    world.produce(
        world.saga.reply_topic,
        GARBAGE,
        key=saga_id.encode(),
        headers=[(h.SAGA_ID, saga_id), (h.MESSAGE_ID, "poison-1")],
    )
    world.wait_for([saga_id], lambda status: status == "parked", what="parked")
    world.start_participants(shipping=Behaviour(silence_rate=1.0))  # stops at the last step
    world.wait_events(
        saga_id,
        lambda rows: any(r.data.get("step") == "schedule_shipment" for r in rows),
        "schedule_shipment issued",
    )
    world.wait_committed([world.saga.reply_topic])
    assert world.lifecycle(saga_id) == "parked"
    projected = world.wait_for([saga_id], lambda status: status != "", what="projected")
    # The projector may lag the log by a poll.
    projected = eventually(
        lambda: world.statuses([saga_id]),
        "the projection says 'parked' as the replayed saga does (if not: BUG "
        "event_store/projections/_fold.py fold_instance: CommandIssued and other status events "
        "overwrite 'parked')",
        until=lambda statuses: statuses.get(saga_id) == "parked",
        timeout=5,
        interval=0.2,
    )
    assert projected[saga_id] == "parked"
