"""The read models in memory, over any `EventStore`: for tests and the saga test kit.

`InMemoryReadModels` is the in-memory twin of `PostgresReadModels`: a batch append that keeps
the rows in step with it. `rebuild` recreates them from the store's events, as `sagactl db
rebuild` does from PostgreSQL; both fold through the same typed `evolve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from event_store import BatchAppendResult, EventStore, RecordedEvent, StreamAppend
from orchestrator.projections._fold import Fold, ReadModelChanges, fold_history
from orchestrator.projections._rows import InstanceRow, TimerRow
from orchestrator.saga import SagaRegistry

__all__ = ["InMemoryReadModels"]


class InMemoryReadModels:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._rows = ReadModelChanges()

    def append_batch(
        self, appends: Sequence[StreamAppend], folds: dict[str, list[Fold]]
    ) -> BatchAppendResult:
        result = self._store.append_batch(appends)
        for stream_id, appended in result.appended.items():
            if appended.deduplicated or stream_id not in folds:
                continue
            written = self._store.read_stream(
                stream_id, appended.first_version, appended.last_version
            )
            self._rows.apply_stream(
                stream_id,
                folds[stream_id],
                first_version=appended.first_version,
                positions=appended.positions,
                recorded_at=[event.recorded_at for event in written],
            )
        return result

    def rebuild(self, registry: SagaRegistry) -> None:
        """Recreate every row from the store's events alone."""
        self._rows = ReadModelChanges()
        events: list[RecordedEvent] = []
        after = 0
        while page := self._store.read_all(after, 1000):
            events.extend(page)
            after = page[-1].position
        events.sort(key=lambda event: (event.stream_id, event.version))
        for _, stream in groupby(events, lambda event: event.stream_id):
            fold_history(self._rows, registry, list(stream))

    def saga_instance(self, stream_id: str) -> InstanceRow | None:
        return self._rows.instances.get(stream_id)

    def saga_instances(self) -> list[InstanceRow]:
        return [self._rows.instances[key] for key in sorted(self._rows.instances)]

    def timers(self) -> list[TimerRow]:
        """Every timer row, scheduled or not, in (stream, timer id) order."""
        return [self._rows.timers[key] for key in sorted(self._rows.timers)]

    def due_timers(self, now: datetime, limit: int = 100) -> list[TimerRow]:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        due = [
            t for t in self._rows.timers.values() if t.status == "scheduled" and t.fire_at <= now
        ]
        due.sort(key=lambda t: (t.fire_at, t.stream_id, t.timer_id))
        return due[:limit]
