"""librdkafka configuration for the orchestrator's clients, in one place.

The settings that carry the delivery guarantees are fixed here, not configurable: an idempotent
producer with acks=all, and a consumer whose offsets are stored by hand only after the batch's
events are durable (enable.auto.offset.store=false).
"""

from __future__ import annotations

from typing import Any

from orchestrator.config import Settings


def producer_config(settings: Settings, *, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": settings.max_message_bytes + 65_536,  # room for headers
        # Bounded: a broker outage surfaces as a delivery error the caller retries, instead of
        # a buffer that grows without limit.
        "message.timeout.ms": 60_000,
        "queue.buffering.max.messages": 200_000,
    }


def consumer_config(settings: Settings, *, group_id: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        # Offsets are committed (by the periodic auto-commit and on revoke) only from what the
        # worker stored after the batch transaction committed: invariant 4.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.max.bytes": 16 * 1_048_576,
        "max.partition.fetch.bytes": settings.max_message_bytes + 65_536,
        "max.poll.interval.ms": 300_000,
        "session.timeout.ms": 45_000,
        "isolation.level": "read_committed",
    }


def admin_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap}


def reader_config(settings: Settings, *, group_id: str) -> dict[str, Any]:
    """A consumer that is only ever assigned partitions: it never joins its group and never
    commits, so reading through it changes nothing (operators' dead-letter listings)."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
