"""Edges of the runtime on the real broker: topic set-up, poison commands at a participant,
and the operator's dead-letter commands (`sagactl dlq`)."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

# confluent-kafka's admin package re-exports NewTopic without listing it in its __all__.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from orchestrator import headers as h
from orchestrator.cli import sagactl
from orchestrator.runtime import TopicSpec, ensure_topics
from tests.integration.worker.conftest import World
from tests.support import eventually


def test_missing_topics_are_created_and_too_few_partitions_reported(world: World) -> None:
    admin = AdminClient({"bootstrap.servers": world.bootstrap})
    narrow = f"test.narrow.{world.suffix}"
    admin.create_topics([NewTopic(narrow, 1, 1)])[narrow].result(30)

    def topics() -> set[str]:
        return set(admin.list_topics(timeout=10).topics)

    def count(known: set[str]) -> str:
        return f"{len(known)} topics, not it"

    # The metadata catches up.
    eventually(
        topics, f"{narrow} in the metadata", until=lambda known: narrow in known, describe=count
    )
    missing = f"test.missing.{world.suffix}"
    try:
        problems = ensure_topics(admin, [TopicSpec(narrow, 4, 1), TopicSpec(missing, 3, 1)])
        assert [p.topic for p in problems] == [narrow]
        assert "has 1 partitions" in problems[0].detail
        eventually(
            topics,
            f"{missing} created",
            until=lambda known: missing in known,
            timeout=15,
            interval=0.2,
            describe=count,
        )
        assert len(admin.list_topics(timeout=10).topics[missing].partitions) == 3
        # Running it again (a second worker starting) is harmless.
        assert [p.topic for p in ensure_topics(admin, [TopicSpec(missing, 3, 1)])] == []
    finally:
        for future in admin.delete_topics([narrow, missing]).values():
            future.result(30)


def test_a_poison_command_goes_to_the_participants_dead_letter_topic(world: World) -> None:
    world.start_worker()
    world.start_participants()
    credit_topic = world.saga.definition.steps["reserve_credit"].topic
    saga_id = str(uuid.uuid4())
    partition, offset = world.produce(
        credit_topic,
        b"\x00\x00\x00\x00\x07not avro at all",
        key=saga_id.encode(),
        headers=[(h.MESSAGE_ID, "poison-1"), (h.SAGA_ID, saga_id)],
    )
    [letter] = world.read_topic(f"{credit_topic}.dlt", expected=1)
    assert letter.value == b"\x00\x00\x00\x00\x07not avro at all"
    assert letter.partition == partition
    assert letter.header(h.DLT_ORIGINAL_TOPIC) == credit_topic
    assert letter.header(h.DLT_ORIGINAL_OFFSET) == str(offset)
    assert letter.header(h.DLT_CONSUMER_GROUP) == f"participant-credit-{world.suffix}"
    # The participant is still alive and still answers healthy commands.
    [saga] = world.start_orders(1)
    assert world.wait_for([saga]) == {saga: "completed"}
    world.check_alive()


def test_dlq_commands_list_show_and_dry_run_a_redrive(world: World) -> None:
    reply_topic = world.saga.reply_topic
    saga_id = str(uuid.uuid4())
    world.produce(
        f"{reply_topic}.dlt",
        b"garbage",
        key=saga_id.encode(),
        partition=2,
        headers=[
            (h.SAGA_ID, saga_id),
            (h.DLT_ORIGINAL_TOPIC, reply_topic),
            (h.DLT_ORIGINAL_PARTITION, "2"),
            (h.DLT_ORIGINAL_OFFSET, "41"),
            (h.DLT_EXCEPTION_CLASS, "orchestrator.codec.MalformedPayloadError"),
            (h.DLT_EXCEPTION_MESSAGE, "malformed: not Avro"),
            (h.DLT_ATTEMPTS, "1"),
        ],
    )
    # The in-process CLI runs the stock sagas: listing and showing dead letters need none.
    env = {**world.child_env(), "SAGA_SAGAS": ""}
    runner = CliRunner()
    listed = runner.invoke(sagactl, ["dlq", "list", reply_topic, "--output", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["partition"], row["original_offset"], row["saga_id"]) == (2, 41, saga_id)
    assert row["reason"] == "malformed"

    shown = runner.invoke(sagactl, ["dlq", "show", f"{reply_topic}.dlt", "2", "0"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "dlt.exception.class" in shown.stdout
    assert "MalformedPayloadError" in shown.stdout

    dry = runner.invoke(
        sagactl,
        ["dlq", "redrive", f"{reply_topic}.dlt", "2", "0", "--actor", "sre", "--dry-run"],
        env=env,
    )
    assert dry.exit_code == 0, dry.output
    assert reply_topic in dry.stdout
    # A dry run sends nothing: the original topic's partition 2 stays empty.
    assert world.message_counts([reply_topic])[reply_topic] == 0

    missing = runner.invoke(sagactl, ["dlq", "show", f"{reply_topic}.dlt", "2", "7"], env=env)
    assert missing.exit_code == 1
    assert "no message at" in missing.stderr
