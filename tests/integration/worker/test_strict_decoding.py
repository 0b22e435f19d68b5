"""A value is exactly one Confluent-framed Avro body of a type its topic carries, or it is
dead-lettered with the precise reason: through the real broker, on a worker's start topic and
reply topic and on a participant's command topic.

Each test produces every kind of bad value onto one partition, then a good message behind
them, and checks that each bad one landed in `<topic>.dlt` with its original bytes and its
reason and message in the `dlt.exception.*` headers, that none was acted on, that the good one
was (the partition is not blocked), and that the consumer's offsets moved past all of them.

Not driven here: `too_large` (the broker's default `max.message.bytes` refuses such a value
before any consumer sees it; tests/integration/codec covers it on a topic that accepts it) and
`validation_failed` (the order saga's messages have no constraint beyond their Avro types, so
valid Avro of them always validates; the codec's own tests cover it with a constrained type).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import Schema
from fastavro import parse_schema, schemaless_writer

from orchestrator import headers as h
from orchestrator.codec import Codec, DecodeError
from orchestrator.messages import Message
from orchestrator.participant import reply_message_id
from orchestrator.runtime import ConsumedRecord
from sagas.order_messages import CreditReserved, PlaceOrder, ReleaseCredit, ReserveCredit
from tests.integration.worker.conftest import World, WorldFactory
from tests.support import eventually

EXTRA = b"\x00" * 7  # what a sender's framing bug appends after one complete body


def _rogue_writer(codec: Codec, topic: str, message: Message, foreign: Message) -> bytes:
    """`message` written with a schema of the same record name that lacks `order_id` (no
    default on the reader's side): registered under a subject of its own, as another team's
    serializer would, so the reader cannot resolve it."""
    schema = json.loads(message.avro_schema.schema_str)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "order_id"]
    schema_id = codec.registry.register_schema(
        f"rogue.{topic}-{message.avro_name}", Schema(json.dumps(schema), "AVRO")
    )
    record = message.to_avro_dict()
    del record["order_id"]
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()


@dataclass(frozen=True)
class Bad:
    """One bad value: how to make it from a good one, and the reason it must be given."""

    reason: str
    make: Callable[[Codec, str, Message, Message], bytes]  # codec, topic, good, foreign


BAD: dict[str, Bad] = {
    "empty value": Bad("empty_value", lambda codec, topic, good, foreign: b""),
    "shorter than the header": Bad(
        "truncated_header", lambda codec, topic, good, foreign: b"\x00\x00\x01"
    ),
    "wrong magic byte": Bad(
        "wrong_magic_byte",
        lambda codec, topic, good, foreign: b"\x01" + codec.encode(topic, good)[1:],
    ),
    "unknown schema id": Bad(
        "unknown_schema_id",
        lambda codec, topic, good, foreign: b"\x00\x7f\xff\xff\xfe" + codec.encode(topic, good)[5:],
    ),
    "type not accepted on this topic": Bad(
        "unexpected_type", lambda codec, topic, good, foreign: codec.encode(topic, foreign)
    ),
    "body truncated mid-record": Bad(
        "truncated", lambda codec, topic, good, foreign: codec.encode(topic, good)[:-3]
    ),
    "malformed body": Bad(
        # every message here starts with a string: a one-byte string that is not UTF-8
        "malformed",
        lambda codec, topic, good, foreign: codec.encode(topic, good)[:5] + b"\x02\xff",
    ),
    "writer schema that does not resolve": Bad("unreadable_schema", _rogue_writer),
    "trailing bytes": Bad(
        "trailing_bytes", lambda codec, topic, good, foreign: codec.encode(topic, good) + EXTRA
    ),
}


@dataclass(frozen=True)
class Sent:
    case: str
    value: bytes
    message_id: str
    offset: int


def produce_bad(
    world: World,
    topic: str,
    good: Callable[[str], Message],
    foreign: Message,
    *,
    partition: int,
    key: bytes,
    headers: Callable[[str], list[tuple[str, str | bytes]]],
) -> list[Sent]:
    """Every bad value onto `topic[partition]`; `good(case)` is the message each is made of
    (distinct per case, so an effect of any of them is traceable to it)."""
    sent = []
    for case, bad in BAD.items():
        message_id = f"poison-{case.replace(' ', '-')}"
        value = bad.make(world.codec, topic, good(case), foreign)
        _, offset = world.produce(
            topic, value, key=key, headers=headers(message_id), partition=partition
        )
        sent.append(Sent(case, value, message_id, offset))
    return sent


def assert_dead_lettered(
    world: World,
    topic: str,
    sent: list[Sent],
    *,
    partition: int,
    group: str,
    accepted: tuple[type[Message], ...],
) -> None:
    """Each bad value is in `<topic>.dlt` once, byte for byte, with its reason and message."""
    dead = world.read_topic(f"{topic}.dlt", expected=len(sent))
    by_offset = {int(r.header(h.DLT_ORIGINAL_OFFSET) or -1): r for r in dead}
    assert len(dead) == len(sent) == len(by_offset), [
        r.header(h.DLT_EXCEPTION_MESSAGE) for r in dead
    ]
    for item in sent:
        record = by_offset.get(item.offset)
        assert record is not None, f"{item.case}: not dead-lettered"
        expected = expected_error(world.codec, topic, item.value, accepted)
        assert expected.reason == BAD[item.case].reason, (item.case, expected)
        assert record.value == item.value, f"{item.case}: the dead letter must keep the bytes"
        assert record.partition == partition
        assert record.header(h.MESSAGE_ID) == item.message_id
        assert record.header(h.DLT_ORIGINAL_TOPIC) == topic
        assert record.header(h.DLT_CONSUMER_GROUP) == group
        assert record.header(h.DLT_EXCEPTION_CLASS) == (
            f"{type(expected).__module__}.{type(expected).__qualname__}"
        ), item.case
        assert record.header(h.DLT_EXCEPTION_MESSAGE) == f"{expected.reason}: {expected}", item.case
    [trailing] = [by_offset[s.offset] for s in sent if s.case == "trailing bytes"]
    (schema_id,) = {int.from_bytes(s.value[1:5], "big") for s in sent if s.case == "trailing bytes"}
    assert trailing.header(h.DLT_EXCEPTION_MESSAGE) == (
        f"trailing_bytes: value has {len(EXTRA)} bytes after the Avro body of "
        f"{accepted_name(world.codec, topic, trailing, accepted)} (schema id {schema_id})"
    )


def expected_error(
    codec: Codec, topic: str, value: bytes, accepted: tuple[type[Message], ...]
) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        codec.decode(topic, value, accepted=accepted)
    return caught.value


def accepted_name(
    codec: Codec, topic: str, record: ConsumedRecord, accepted: tuple[type[Message], ...]
) -> str:
    body = (record.value or b"")[: -len(EXTRA)]
    return codec.decode(topic, body, accepted=accepted).avro_name


def wait_group_committed(world: World, group: str, topic: str, partition: int, end: int) -> None:
    """Until `group` has committed `topic[partition]` up to `end` (the next offset to read)."""
    probe = Consumer({"bootstrap.servers": world.bootstrap, "group.id": group})

    def committed() -> int:
        [position] = probe.committed([TopicPartition(topic, partition)], timeout=10)
        return int(position.offset)

    try:
        eventually(
            committed,
            f"{group} committed {topic}[{partition}] up to {end} (its committed offset)",
            until=lambda offset: offset >= end,
            timeout=30,
            interval=0.3,
            check=world.check_alive,
        )
    finally:
        probe.close()


def test_bad_starts_are_dead_lettered_and_start_nothing(world: World) -> None:
    world.start_worker()
    topic = world.saga.start_topic

    def order(case: str) -> PlaceOrder:
        return world.order(0, prefix=f"bad-{case.replace(' ', '-')}")

    sent = produce_bad(
        world,
        topic,
        order,
        CreditReserved(order_id="o-1", reservation_id="r-1"),
        partition=0,
        key=b"bad-start",
        headers=lambda message_id: [(h.MESSAGE_ID, message_id)],
    )
    good = world.order(1, prefix="good")
    world.produce(topic, world.codec.encode(topic, good), key=b"good", headers=[], partition=0)
    [good_saga] = [world.registry.saga_id_for_start(good) or ""]
    world.wait_for([good_saga], lambda status: status != "", what="started behind the poison")
    world.wait_committed([topic])

    assert_dead_lettered(
        world, topic, sent, partition=0, group=world.settings.consumer_group, accepted=(PlaceOrder,)
    )
    bodies = [world.registry.saga_id_for_start(order(case)) or "" for case in BAD]
    assert world.events(bodies) == [], "a bad start started a saga"
    assert {row.stream_id for row in world.events()} == {good_saga}


def test_bad_replies_are_dead_lettered_and_decide_nothing(make_world: WorldFactory) -> None:
    # Steps wait long for replies: this test answers by hand.
    world = make_world(timeout=timedelta(minutes=5))
    running = world.start_worker()
    [saga_id] = world.start_orders(1)
    world.wait_for([saga_id], lambda status: status == "running", what="running")
    [command] = world.read_topic(world.saga.definition.steps["reserve_credit"].topic, 1)
    topic = world.saga.reply_topic
    order_id = world.order(0).order_id

    def reply_headers(message_id: str) -> list[tuple[str, str | bytes]]:
        return [
            (h.MESSAGE_ID, message_id),
            (h.SAGA_ID, saga_id),
            (h.STEP, "reserve_credit"),
            (h.ATTEMPT, "1"),
        ]

    sent = produce_bad(
        world,
        topic,
        lambda case: CreditReserved(order_id=order_id, reservation_id=f"r-{case}"),
        world.order(0),
        partition=command.partition,
        key=saga_id.encode(),
        headers=reply_headers,
    )
    good_id = reply_message_id(command.header(h.MESSAGE_ID) or "")
    world.produce(
        topic,
        world.codec.encode(topic, CreditReserved(order_id=order_id, reservation_id="r-good")),
        key=saga_id.encode(),
        headers=reply_headers(good_id),
        partition=command.partition,
    )
    rows = world.wait_events(
        saga_id,
        lambda rows: any(r.event_type == "StepSucceeded" for r in rows),
        "StepSucceeded behind the poison",
    )
    world.wait_committed([topic])

    assert_dead_lettered(
        world,
        topic,
        sent,
        partition=command.partition,
        group=world.settings.consumer_group,
        accepted=running.worker.routes.accepted[topic],
    )
    rows = world.events([saga_id])
    [succeeded] = [r for r in rows if r.event_type == "StepSucceeded"]
    assert succeeded.metadata.get("causation_id") == good_id, succeeded
    poison_ids = {s.message_id for s in sent}
    decided = [r for r in rows if r.metadata.get("causation_id") in poison_ids]
    assert {r.event_type for r in decided} <= {"SagaParked"}, [r.event_type for r in decided]
    parked = [(r.data["topic"], r.data["offset"]) for r in rows if r.event_type == "SagaParked"]
    assert sorted(parked) == sorted((topic, s.offset) for s in sent)


def test_bad_commands_are_dead_lettered_by_the_participant_and_change_nothing(
    world: World,
) -> None:
    world.start_participants()
    step = world.saga.definition.steps["reserve_credit"]
    topic = step.topic
    order = world.order(0)

    def command_headers(message_id: str) -> list[tuple[str, str | bytes]]:
        return [
            (h.MESSAGE_ID, message_id),
            (h.SAGA_ID, "saga-of-hand-made-commands"),
            (h.STEP, "reserve_credit"),
            (h.ATTEMPT, "1"),
            (h.REPLY_TOPIC, world.saga.reply_topic),
        ]

    def command(case: str) -> ReserveCredit:
        return ReserveCredit(
            order_id=f"bad-{case.replace(' ', '-')}",
            customer_id=order.customer_id,
            amount_cents=order.amount_cents,
        )

    sent = produce_bad(
        world,
        topic,
        command,
        order,
        partition=1,
        key=b"saga-of-hand-made-commands",
        headers=command_headers,
    )
    good = ReserveCredit(order_id=order.order_id, customer_id="c", amount_cents=100)
    _, good_offset = world.produce(
        topic,
        world.codec.encode(topic, good),
        key=b"saga-of-hand-made-commands",
        headers=command_headers("good-command"),
        partition=1,
    )
    replies = world.read_topic(world.saga.reply_topic, expected=1)
    assert [r.header(h.CAUSATION_ID) for r in replies] == ["good-command"], "a bad one answered"
    group = f"participant-credit-{world.suffix}"
    wait_group_committed(world, group, topic, 1, good_offset + 1)

    assert_dead_lettered(
        world, topic, sent, partition=1, group=group, accepted=(ReleaseCredit, ReserveCredit)
    )
    effects = [(service, message_id) for service, message_id, _, _ in world.effects()]
    assert effects == [("credit", "good-command")], "a bad command had an effect"
