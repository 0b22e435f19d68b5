"""Value types, errors and the store Protocol shared by every event-store implementation.

This module is the contract: the PostgreSQL store, the in-memory store used by the saga test
kit, and the contract test suite all depend on it, and it depends on nothing but the stdlib.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

JsonObject = Mapping[str, Any]

# Stream ids appear in logs, CLI arguments and Kafka keys; keeping them to a safe alphabet
# means no quoting problems anywhere they travel.
STREAM_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$")

# expected_version for a stream that must not exist yet.
NO_STREAM = 0


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. `metadata` carries correlation id, causation id, trace context, actor."""

    event_type: str
    data: JsonObject
    schema_version: int = 1
    metadata: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's share of a batch append.

    `message_id` is the idempotency key: the id of the inbound message that produced these
    events. It is stored in every event's metadata; an append whose message id the stream has
    already recorded writes nothing and returns the earlier result.
    """

    stream_id: str
    stream_type: str
    expected_version: int
    events: Sequence[NewEvent]
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: str
    first_version: int
    last_version: int
    # Global positions of the appended events (of the earlier append, when deduplicated).
    positions: tuple[int, ...]
    deduplicated: bool = False


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    position: int
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data: JsonObject
    metadata: JsonObject
    recorded_at: datetime
    hash: str

    @property
    def message_id(self) -> str | None:
        value = self.metadata.get("message_id")
        return value if isinstance(value, str) else None


class EventStoreError(Exception):
    """Base class of every error the event store raises on purpose."""


class ConcurrencyError(EventStoreError):
    """The stream's version was not the one the caller expected (optimistic concurrency)."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_id!r}: expected version {expected_version}, "
            f"but the stream is at version {actual_version}"
        )


class InvalidEventError(EventStoreError):
    """The append was refused before anything was written: bad stream id, empty event list,
    data that is not JSON-serialisable, or a payload over the configured size limit."""


class PayloadTooLargeError(InvalidEventError):
    pass


class UnknownPositionError(EventStoreError):
    """`read_all` was given an `after_position` that is not the position of a stored event.

    Global positions have gaps (a rolled-back append burns its positions), so a reader may only
    resume from a position it was handed by `read_all` (or 0 for the beginning).
    """

    def __init__(self, position: int) -> None:
        self.position = position
        super().__init__(
            f"position {position} is not a stored event; resume read_all from 0 or from the "
            "position of an event read_all returned"
        )


@dataclass(frozen=True, slots=True)
class BatchAppendResult:
    """Outcome of `append_batch`: every stream is either appended or reported as a conflict."""

    appended: Mapping[str, AppendResult]
    conflicts: Mapping[str, ConcurrencyError]


@runtime_checkable
class EventStore(Protocol):
    def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        message_id: str | None = None,
    ) -> AppendResult: ...

    def append_batch(self, appends: Sequence[StreamAppend]) -> BatchAppendResult: ...

    def read_stream(
        self, stream_id: str, from_version: int = 1, to_version: int | None = None
    ) -> list[RecordedEvent]: ...

    def read_stream_until(
        self, stream_id: str, recorded_before: datetime
    ) -> list[RecordedEvent]: ...

    def stream_version(self, stream_id: str) -> int: ...

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to `limit` events of every stream, in commit-safe order, after `after_position`.

        Gap-safe: an event is returned only once every transaction that could still commit an
        event before it has finished, so a reader that resumes from the position of the last
        event it received never skips one. The order is the order transactions were assigned
        ids, then position: within a stream it is version order, but globally positions are not
        always increasing. Resume from the last event's position (any earlier returned position
        is also safe: it can only repeat events, never skip them); an unknown position raises
        `UnknownPositionError`.
        """
        ...
