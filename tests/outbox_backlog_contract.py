"""The outbox-backlog contract: the committed events the relay has not passed, counted in the
relay's own order and capped. PostgreSQL in tests/integration/runtime/test_postgres_ports.py,
memory in tests/unit/runtime/test_memory_ports.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from event_store import CheckpointStore, EventStore, NewEvent
from orchestrator.runtime import OutboxBacklog

SUBSCRIPTION = "outbox-relay:backlog-test"


@dataclass
class BacklogWorld:
    store: EventStore
    checkpoints: CheckpointStore
    backlog: Callable[[int], OutboxBacklog]  # the gauge of SUBSCRIPTION, with this cap


def append(store: EventStore, stream: str, count: int) -> tuple[int, ...]:
    return store.append(
        stream, "test", 0, [NewEvent("Noted", {"n": n}) for n in range(count)]
    ).positions


class OutboxBacklogContract:
    """Abstract: `world` yields an EMPTY store, its checkpoints and a backlog factory."""

    @pytest.fixture
    def world(self) -> BacklogWorld:
        raise NotImplementedError

    def test_the_backlog_is_what_lies_past_the_relay_checkpoint(self, world: BacklogWorld) -> None:
        probe = world.backlog(1_000_000)
        try:
            assert probe.backlog() == 0
            first = append(world.store, "stream-a", 3)
            second = append(world.store, "stream-b", 4)
            assert probe.backlog() == 7, "no checkpoint yet: the relay has passed nothing"
            world.checkpoints.save(SUBSCRIPTION, first[-1])
            assert probe.backlog() == 4
            world.checkpoints.save(SUBSCRIPTION, second[1])
            assert probe.backlog() == 2
            world.checkpoints.save(SUBSCRIPTION, second[-1])
            assert probe.backlog() == 0
            world.checkpoints.save("outbox-relay:other", 0)
            assert probe.backlog() == 0, "another subscription's checkpoint is not this relay's"
        finally:
            probe.close()

    def test_the_count_stops_at_the_cap(self, world: BacklogWorld) -> None:
        positions = append(world.store, "stream-a", 9)
        probe = world.backlog(5)
        try:
            assert probe.backlog() == 5
            world.checkpoints.save(SUBSCRIPTION, positions[1])
            assert probe.backlog() == 5
            world.checkpoints.save(SUBSCRIPTION, positions[5])
            assert probe.backlog() == 3
        finally:
            probe.close()
