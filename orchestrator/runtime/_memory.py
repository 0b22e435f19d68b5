"""In-memory twins of the runtime's ports, for tests and the in-memory world: each passes the
same contract suite as its PostgreSQL adapter (tests/<port>_contract.py)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from event_store import CheckpointStore, EventStore, RecordedEvent
from event_store.projections import InMemoryProjections
from orchestrator.runtime._ports import BACKLOG_CAP, DueTimer
from orchestrator.runtime._stream_types import StreamTypes

READ_PAGE = 1000


class ReadAllCommandLog:
    """The command log over any event store, by filtering `read_all` (the PostgreSQL store
    reads only the wanted types, by index; this reads everything, which memory can afford)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def read_type(
        self, after_position: int, event_types: Sequence[str], limit: int = 1000
    ) -> tuple[list[RecordedEvent], int]:
        wanted = frozenset(event_types)
        found: list[RecordedEvent] = []
        head = after_position
        while len(found) < limit:
            page = self._store.read_all(head, READ_PAGE)
            if not page:
                return found, head
            for event in page:
                head = event.position
                if event.event_type in wanted:
                    found.append(event)
                    if len(found) == limit:
                        return found, head
        return found, head


class MemoryTimers:
    """Due timers folded from `store` by the read model's own rules (`InMemoryProjections`)."""

    def __init__(self, store: EventStore) -> None:
        self._projections = InMemoryProjections(store)
        self._types = StreamTypes(store)

    def due(self, now: datetime, saga_types: Sequence[str], limit: int) -> list[DueTimer]:
        return self._types.due_of(self._projections.due_timers(now, limit), saga_types)

    def close(self) -> None:
        """Nothing to release."""


class MemoryLeaderLeases:
    """The lease table of one in-memory world: one holder per consumer group."""

    def __init__(self) -> None:
        self._holders: dict[str, MemoryLeaderLease] = {}
        self._lock = threading.Lock()

    def lease(self, consumer_group: str) -> MemoryLeaderLease:
        return MemoryLeaderLease(self, consumer_group)

    def _take(self, lease: MemoryLeaderLease) -> bool:
        with self._lock:
            holder = self._holders.setdefault(lease.group, lease)
            return holder is lease

    def _drop(self, lease: MemoryLeaderLease) -> None:
        with self._lock:
            if self._holders.get(lease.group) is lease:
                del self._holders[lease.group]


class MemoryLeaderLease:
    def __init__(self, table: MemoryLeaderLeases, group: str) -> None:
        self._table = table
        self.group = group

    def holds(self) -> bool:
        return self._table._take(self)

    def release(self) -> None:
        self._table._drop(self)

    def lose(self) -> None:
        """What a crash does to a PostgreSQL lease (its session ends): the lease is free, and
        this holder learns it at its next `holds`, when someone else may have taken it."""
        self._table._drop(self)


class MemoryOutboxBacklog:
    """Events of `store` past the checkpoint `subscription` holds, in `read_all` order."""

    def __init__(
        self,
        store: EventStore,
        checkpoints: CheckpointStore,
        subscription: str,
        *,
        cap: int = BACKLOG_CAP,
    ) -> None:
        self._store = store
        self._checkpoints = checkpoints
        self._subscription = subscription
        self._cap = cap

    def backlog(self) -> int:
        after = self._checkpoints.load(self._subscription)
        count = 0
        while count < self._cap and (page := self._store.read_all(after, READ_PAGE)):
            count += len(page)
            after = page[-1].position
        return min(count, self._cap)

    def close(self) -> None:
        """Nothing to release."""
