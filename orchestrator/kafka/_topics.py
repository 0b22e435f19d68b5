"""Create the orchestrator's topics at start-up and report the ones that cannot work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import admin as kafka_admin
from confluent_kafka.admin import AdminClient

# The stubs of confluent-kafka 2.16 omit this run-time re-export.
NewTopic = kafka_admin.NewTopic  # type: ignore[attr-defined]

log = structlog.get_logger(__name__)

DEAD_LETTER_SUFFIX = ".dlt"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DEAD_LETTER_SUFFIX}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int


@dataclass(frozen=True, slots=True)
class TopicProblem:
    topic: str
    detail: str


class TopicSetupError(Exception):
    """Topics could not be created or are unusable; the message lists every problem."""


def with_dead_letters(specs: Iterable[TopicSpec]) -> list[TopicSpec]:
    """Each consumed topic gets a `.dlt` twin with as many partitions, so a dead letter can go
    to the same partition number as its original (the Kafka Connect / Spring convention)."""
    out: list[TopicSpec] = []
    for spec in specs:
        out.append(spec)
        out.append(
            TopicSpec(dead_letter_topic(spec.name), spec.partitions, spec.replication_factor)
        )
    return out


def ensure_topics(
    admin: AdminClient, specs: Iterable[TopicSpec], *, timeout: float = 30.0
) -> list[TopicProblem]:
    """Create missing topics; return the topics that have fewer partitions than configured.

    Raises TopicSetupError if a creation fails for any reason other than a concurrent creator
    having won the race. Partition counts are checked after creating, so a topic someone else
    created meanwhile (with whatever partitions) is checked too."""
    wanted = {spec.name: spec for spec in specs}
    existing = admin.list_topics(timeout=timeout).topics
    missing = [
        NewTopic(name, spec.partitions, spec.replication_factor)
        for name, spec in sorted(wanted.items())
        if name not in existing
    ]
    if missing:
        failures: list[str] = []
        for name, future in admin.create_topics(missing, request_timeout=timeout).items():
            try:
                future.result(timeout)
                log.info("topic created", topic=name, partitions=wanted[name].partitions)
            except KafkaException as exc:
                error = exc.args[0]
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    continue  # another worker created it between our list and create
                failures.append(f"{name}: {exc}")
        if failures:
            raise TopicSetupError("could not create topics: " + "; ".join(failures))
        existing = admin.list_topics(timeout=timeout).topics
    problems: list[TopicProblem] = []
    for name, spec in sorted(wanted.items()):
        metadata = existing.get(name)
        count = len(metadata.partitions) if metadata is not None else spec.partitions
        if count < spec.partitions:
            problems.append(
                TopicProblem(
                    name,
                    f"has {count} partitions, configuration asks for {spec.partitions}: "
                    "fewer consumers can share the load (Kafka cannot shrink or reshuffle "
                    "partitions safely, so this is not changed automatically)",
                )
            )
    for problem in problems:
        log.warning("topic misconfigured", topic=problem.topic, detail=problem.detail)
    return problems
