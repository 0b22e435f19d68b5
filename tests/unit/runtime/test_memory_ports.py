"""The in-memory twins of the runtime's ports against the shared contracts."""

from __future__ import annotations

import pytest

from event_store import CheckpointStore, EventStore, InMemoryCheckpointStore, InMemoryEventStore
from orchestrator.projections import InMemoryReadModels
from orchestrator.runtime import (
    CommandLog,
    LeaderLease,
    MemoryLeaderLease,
    MemoryLeaderLeases,
    MemoryOutboxBacklog,
    MemoryTimers,
    ReadAllCommandLog,
)
from tests.checkpoint_contract import CheckpointContract
from tests.command_log_contract import CommandLogContract
from tests.leader_lease_contract import LeaderLeaseContract, Leases
from tests.outbox_backlog_contract import SUBSCRIPTION, BacklogWorld, OutboxBacklogContract
from tests.timers_contract import REGISTRY, TimersContract, TimersWorld


class TestReadAllCommandLog(CommandLogContract):
    @pytest.fixture
    def log(self) -> tuple[EventStore, CommandLog]:
        store = InMemoryEventStore()
        return store, ReadAllCommandLog(store)


class TestInMemoryCheckpoints(CheckpointContract):
    @pytest.fixture
    def checkpoints(self) -> CheckpointStore:
        return InMemoryCheckpointStore()


class TestMemoryLeaderLease(LeaderLeaseContract):
    @pytest.fixture
    def leases(self) -> Leases:
        return MemoryLeaderLeases().lease

    def lose(self, lease: LeaderLease) -> None:
        assert isinstance(lease, MemoryLeaderLease)
        lease.lose()


class TestMemoryOutboxBacklog(OutboxBacklogContract):
    @pytest.fixture
    def world(self) -> BacklogWorld:
        store, checkpoints = InMemoryEventStore(), InMemoryCheckpointStore()
        return BacklogWorld(
            store,
            checkpoints,
            lambda cap: MemoryOutboxBacklog(store, checkpoints, SUBSCRIPTION, cap=cap),
        )


class TestMemoryTimers(TimersContract):
    @pytest.fixture
    def world(self) -> TimersWorld:
        store = InMemoryEventStore()
        read_models = InMemoryReadModels(store)
        return TimersWorld(
            store, MemoryTimers(store, read_models), settle=lambda: read_models.rebuild(REGISTRY)
        )
