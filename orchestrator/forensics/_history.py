"""A saga's stream, read once and decoded once, and the points in it commands can ask for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from event_store import RecordedEvent
from orchestrator.saga import events as ev


class PointError(ValueError):
    """The point asked for is not in the stream (beyond its end, before its start)."""


class History:
    """A saga's recorded events with their typed form, decoded once for every command, and
    only as far as it is asked: the state at version 500 of a long stream decodes 500."""

    __slots__ = ("_events", "recorded")

    def __init__(
        self, recorded: tuple[RecordedEvent, ...], events: tuple[ev.SagaEvent, ...] | None = None
    ) -> None:
        self.recorded = recorded
        self._events = events

    @classmethod
    def of(cls, recorded: Sequence[RecordedEvent]) -> History:
        """``recorded`` in version order, as ``read_stream`` returns a stream."""
        return cls(tuple(recorded))

    @property
    def events(self) -> tuple[ev.SagaEvent, ...]:
        if self._events is None:
            self._events = tuple(ev.event_from_recorded(r) for r in self.recorded)
        return self._events

    @property
    def last_version(self) -> int:
        return self.recorded[-1].version if self.recorded else 0

    def until_version(self, version: int) -> History:
        if version < 1 or version > self.last_version:
            raise PointError(
                f"version {version} is not in the stream (versions 1 to {self.last_version})"
            )
        return self._first(version)

    def until_time(self, at: datetime) -> History:
        """The events recorded at or before ``at``: an instant copied from a timeline row
        includes that row's event."""
        if at.tzinfo is None:
            raise PointError(f"{at.isoformat()} has no UTC offset")
        count = sum(1 for r in self.recorded if r.recorded_at <= at)
        if count == 0:
            first = self.recorded[0].recorded_at.isoformat() if self.recorded else "never"
            raise PointError(f"{at.isoformat()} is before the saga's first event ({first})")
        return self._first(count)

    def _first(self, count: int) -> History:
        events = None if self._events is None else self._events[:count]
        return History(self.recorded[:count], events)
