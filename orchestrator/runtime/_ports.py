"""The ports of the runtime: what the worker, the outbox relay, the timer poller and the leader
duties need from the outside world, as protocols.

Each has a PostgreSQL adapter (`orchestrator.runtime.postgres`) and an in-memory twin
(`orchestrator.runtime.memory`); one contract suite per port (tests/<port>_contract.py) runs
against both, so the twin cannot drift from the adapter it stands in for. The event store and
its checkpoints are ports of `event_store` itself (`EventStore`, `CheckpointStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, runtime_checkable

from event_store import RecordedEvent

__all__ = ["BACKLOG_CAP", "CommandLog", "DueTimer", "LeaderLease", "OutboxBacklog", "Timers"]


@runtime_checkable
class CommandLog(Protocol):
    """The log the outbox relay tails: events of some types, in the gap-safe order of
    `EventStore.read_all`."""

    def read_type(
        self, after_position: int, event_types: Sequence[str], limit: int = 1000
    ) -> tuple[list[RecordedEvent], int]:
        """Events of `event_types` after `after_position`, and the position to resume from:
        the last event returned when the page is full, else the head of the readable log
        (nothing of those types lies before it)."""
        ...


@dataclass(frozen=True, slots=True)
class DueTimer:
    stream_id: str
    saga_type: str
    timer_id: str
    fire_at: datetime
    # The traceparent of the saga's first event: a firing joins the saga's trace.
    traceparent: str | None = None


class Timers(Protocol):
    """The scheduled timers of the `timers` read model."""

    def due(self, now: datetime, saga_types: Sequence[str], limit: int) -> list[DueTimer]:
        """Scheduled timers of sagas of `saga_types` with `fire_at <= now`, earliest first."""
        ...

    def close(self) -> None: ...


class LeaderLease(Protocol):
    """At most one holder per consumer group; a holder that goes away loses it."""

    def holds(self) -> bool:
        """True while this process is the leader; tries to become it when it is not."""
        ...

    def release(self) -> None: ...


# The backlog gauge stops counting here: past it, the relay is plainly stalled, and counting a
# backlog of millions every second would load the database it is waiting on.
BACKLOG_CAP: Final = 1_000_000


class OutboxBacklog(Protocol):
    """How many committed events the outbox relay has not passed yet (capped)."""

    def backlog(self) -> int: ...

    def close(self) -> None: ...
