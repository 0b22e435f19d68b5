"""`sagactl dlq list|show|redrive`: inspect dead-letter topics and send messages back."""

from __future__ import annotations

import dataclasses

import click
from confluent_kafka import KafkaException

from orchestrator.cli._output import EXIT_PROBLEM, EXIT_UNREACHABLE, emit, fail, output_option
from orchestrator.cli._reach import Needs, kafka_reason, requires
from orchestrator.cli._types import Text, TopicName
from orchestrator.config import Settings
from orchestrator.kafka import PublishError
from orchestrator.runtime import (
    App,
    DeadLetterNotFoundError,
    DeadLetterView,
    read_dead_letters,
    read_one,
    redrive,
)

COLUMNS = (
    "partition",
    "offset",
    "original_topic",
    "original_partition",
    "original_offset",
    "reason",
    "saga_id",
    "attempts",
)


@click.group()
def dlq() -> None:
    """Dead-letter topics (`<topic>.dlt`): list, show, redrive."""


@dlq.command("list")
@click.argument("topic", type=TopicName())
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@output_option
@requires(Needs.KAFKA)
def list_(topic: str, limit: int, output: str) -> None:
    """List the dead letters of TOPIC (a `.dlt` topic, or the original topic's name)."""
    dlt = topic if topic.endswith(".dlt") else f"{topic}.dlt"
    try:
        records = read_dead_letters(Settings.from_env(), dlt, limit=limit)
    except DeadLetterNotFoundError as exc:
        raise fail(str(exc), EXIT_PROBLEM) from None
    except KafkaException as exc:
        raise fail(f"Kafka unreachable: {kafka_reason(exc)}", EXIT_UNREACHABLE) from None
    emit([dataclasses.asdict(DeadLetterView.of(r)) for r in records], output, COLUMNS)


@dlq.command()
@click.argument("topic", type=TopicName())
@click.argument("partition", type=click.IntRange(0))
@click.argument("offset", type=click.IntRange(0))
@output_option
@requires(Needs.KAFKA)
def show(topic: str, partition: int, offset: int, output: str) -> None:
    """Show one dead letter with all its headers."""
    try:
        record = read_one(Settings.from_env(), topic, partition, offset)
    except DeadLetterNotFoundError as exc:
        raise fail(str(exc), EXIT_PROBLEM) from None
    rows = [{"header": "key", "value": (record.key or b"").decode("utf-8", "replace")}]
    rows += [{"header": k, "value": v.decode("utf-8", "replace")} for k, v in record.headers]
    rows.append(
        {
            "header": "value",
            "value": f"{len(record.value or b'')} bytes: {(record.value or b'')[:64].hex()}",
        }
    )
    emit(rows, output, ("header", "value"))


@dlq.command("redrive")
@click.argument("topic", type=TopicName())
@click.argument("partition", type=click.IntRange(0))
@click.argument("offset", type=click.IntRange(0))
@click.option(
    "--actor", required=True, type=Text(), help="Who redrives (recorded in the saga's history)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing.")
@output_option
@requires(Needs.KAFKA)
def redrive_(
    topic: str, partition: int, offset: int, actor: str, dry_run: bool, output: str
) -> None:
    """Send a dead letter back to its original topic, as a new delivery attempt."""
    settings = Settings.from_env()
    app = App.from_settings(settings)
    try:
        done = redrive(
            settings,
            app.codec,
            app.registry,
            topic=topic,
            partition=partition,
            offset=offset,
            actor=actor,
            dry_run=dry_run,
        )
    except DeadLetterNotFoundError as exc:
        raise fail(str(exc), EXIT_PROBLEM) from None
    except (PublishError, KafkaException) as exc:
        raise fail(f"Kafka did not take the redrive: {exc}", EXIT_UNREACHABLE) from None
    emit(
        [
            {
                "dead_letter": f"{topic}[{partition}]@{offset}",
                "to_topic": done.to_topic,
                "delivery_attempt": done.delivery_attempt,
                "saga_id": done.dead_letter.saga_id,
                "saga_notified": done.saga_notified,
                "dry_run": dry_run,
            }
        ],
        output,
        ("dead_letter", "to_topic", "delivery_attempt", "saga_id", "saga_notified", "dry_run"),
    )
