"""Projections over any `EventStore`, in memory: the saga test kit's view of instances and
timers, folded by the same rules as the PostgreSQL tables."""

from __future__ import annotations

from datetime import datetime

from event_store._model import EventStore
from event_store.projections._fold import ProjectionState, SagaInstance, Timer
from event_store.subscription import CatchUpSubscription, InMemoryCheckpointStore

__all__ = ["InMemoryProjections"]


class InMemoryProjections:
    """Every read first catches up with the store, so it always reflects committed events."""

    def __init__(self, store: EventStore, *, batch_size: int = 500) -> None:
        self._state = ProjectionState()
        self._subscription = CatchUpSubscription(
            store,
            InMemoryCheckpointStore(),
            "projections",
            self._state.apply_all,
            batch_size=batch_size,
        )

    def catch_up(self) -> int:
        return self._subscription.catch_up()

    def due_timers(self, now: datetime, limit: int = 100) -> list[Timer]:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.catch_up()
        return self._state.due_timers(now, limit)

    def saga_instance(self, stream_id: str) -> SagaInstance | None:
        self.catch_up()
        return self._state.instances.get(stream_id)

    def saga_instances(self, *, status: str | None = None, limit: int = 100) -> list[SagaInstance]:
        self.catch_up()
        chosen = [i for i in self._state.instances.values() if status is None or i.status == status]
        chosen.sort(key=lambda instance: (instance.updated_at, instance.stream_id), reverse=True)
        return chosen[:limit]

    def timers(self) -> list[Timer]:
        """Every timer row, scheduled or not, in (stream, timer id) order."""
        self.catch_up()
        return [self._state.timers[key] for key in sorted(self._state.timers)]
