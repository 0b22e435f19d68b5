"""What a world runs on: the stores, the leader's ports, the codec, the participants' inboxes
and the Kafka bootstrap. `memory_stack` is all in one process; a real stack (PostgreSQL and
Kafka) is built by the caller from the PostgreSQL adapters, with the same shape."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka.schema_registry import SchemaRegistryClient

from event_store import CheckpointStore, EventStore, InMemoryCheckpointStore, InMemoryEventStore
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import MEMORY_SCHEME, MemoryBroker
from orchestrator.participant import Inbox, MemoryInbox
from orchestrator.runtime import (
    LeaderPorts,
    MemoryLeaderLeases,
    MemoryOutboxBacklog,
    MemoryTimers,
    ReadAllCommandLog,
    relay_subscription,
)
from orchestrator.world._clock import VirtualClock


@dataclass
class Stack:
    settings: Settings
    store: EventStore
    checkpoints: CheckpointStore
    leader: LeaderPorts
    codec: Codec
    inbox: Callable[[str], Inbox]  # a participant's inbox, by participant name
    projector_poll: Callable[[], int] | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def memory_stack(clock: VirtualClock) -> Stack:
    """Kafka (`memory://`), the event store, checkpoints, timers, lease, backlog and inboxes,
    all in this process, the store's clock the world's."""
    name = f"world-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        kafka_bootstrap=f"{MEMORY_SCHEME}{name}",
        consumer_group=name,
        topic_partitions=2,
        batch_max_wait_ms=5,
        anchor_interval_s=0,
    )
    store = InMemoryEventStore(clock=clock.now)
    checkpoints = InMemoryCheckpointStore()
    leader = LeaderPorts(
        lease=MemoryLeaderLeases().lease(name),
        command_log=ReadAllCommandLog(store),
        checkpoints=checkpoints,
        timers=MemoryTimers(store),
        backlog=MemoryOutboxBacklog(store, checkpoints, relay_subscription(name)),
    )
    codec = Codec(SchemaRegistryClient.new_client({"url": f"mock://{name}"}))
    return Stack(
        settings,
        store,
        checkpoints,
        leader,
        codec,
        inbox=lambda _participant: MemoryInbox(),
        closers=[lambda: MemoryBroker.forget(name)],
    )
