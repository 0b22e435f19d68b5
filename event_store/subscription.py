"""Catch-up subscriptions: follow the global log from a stored checkpoint (outbox, projections).

A subscription reads `read_all` pages after its checkpoint, hands each page to its handler, and
then stores the position of the page's last event. Delivery is at least once: a crash between
the handler and the checkpoint hands the page over again, so handlers must be idempotent (the
outbox publisher's commands carry stable message ids). Handlers that write to the same
database can do better, storing their checkpoint in their own transaction, as
`orchestrator.projections.PostgresProjector` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from event_store._model import EventStore, RecordedEvent

__all__ = [
    "CatchUpSubscription",
    "CheckpointStore",
    "InMemoryCheckpointStore",
]

Handler = Callable[[Sequence[RecordedEvent]], None]


class CheckpointStore(Protocol):
    def load(self, name: str) -> int:
        """The stored position of subscription `name`, 0 when it never ran."""
        ...

    def save(self, name: str, position: int) -> None: ...


class InMemoryCheckpointStore:
    def __init__(self) -> None:
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> int:
        with self._lock:
            return self._positions.get(name, 0)

    def save(self, name: str, position: int) -> None:
        with self._lock:
            self._positions[name] = position


class CatchUpSubscription:
    """Feeds every event, once caught up and then as it commits, to `handler`, page by page."""

    def __init__(
        self,
        store: EventStore,
        checkpoints: CheckpointStore,
        name: str,
        handler: Handler,
        *,
        batch_size: int = 500,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._store = store
        self._checkpoints = checkpoints
        self._name = name
        self._handler = handler
        self._batch_size = batch_size
        self._position: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def position(self) -> int:
        """The checkpoint: the last event handled (loaded from the store on first use)."""
        if self._position is None:
            self._position = self._checkpoints.load(self._name)
        return self._position

    def poll(self) -> int:
        """Handle the next page of events, if any; returns how many were handled."""
        events = self._store.read_all(self.position, self._batch_size)
        if not events:
            return 0
        self._handler(events)
        # The last event, not the highest position: read_all's order is by transaction first.
        last = events[-1].position
        self._checkpoints.save(self._name, last)
        self._position = last
        return len(events)

    def catch_up(self) -> int:
        """Poll until no event is left; returns how many were handled."""
        total = 0
        while handled := self.poll():
            total += handled
        return total

    def run(self, stop: threading.Event, idle_interval: float = 0.2) -> None:
        """Poll until `stop` is set, sleeping `idle_interval` seconds whenever caught up."""
        while not stop.is_set():
            if self.poll() == 0:
                stop.wait(idle_interval)
