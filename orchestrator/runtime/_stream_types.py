"""The saga type of a stream, from its first event: what a due timer is missing to find its
saga's reply topic (and the traceparent that event recorded, which the timer's firing
continues). A stream never changes type, so each is asked about once (bounded)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from event_store import EventStore
from orchestrator.projections import TimerRow as Timer
from orchestrator.runtime._ports import DueTimer

MAX_REMEMBERED: Final = 100_000


class StreamTypes:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._known: dict[str, tuple[str, str | None]] = {}

    def of(self, stream_id: str) -> str | None:
        known = self._first(stream_id)
        return None if known is None else known[0]

    def _first(self, stream_id: str) -> tuple[str, str | None] | None:
        """(saga type, traceparent) of the stream's first event."""
        known = self._known.get(stream_id)
        if known is None:
            first = self._store.read_stream(stream_id, 1, 1)
            if not first:
                return None
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()  # rare, and only costs one read per stream again
            traceparent = first[0].metadata.get("traceparent")
            known = self._known[stream_id] = (
                first[0].stream_type,
                traceparent if isinstance(traceparent, str) else None,
            )
        return known

    def due_of(self, timers: Iterable[Timer], saga_types: Sequence[str]) -> list[DueTimer]:
        """The read model's timers that belong to sagas of `saga_types`, in their order."""
        wanted = frozenset(saga_types)
        due: list[DueTimer] = []
        for timer in timers:
            known = self._first(timer.stream_id)
            if known is not None and known[0] in wanted:
                due.append(
                    DueTimer(timer.stream_id, known[0], timer.timer_id, timer.fire_at, known[1])
                )
        return due
