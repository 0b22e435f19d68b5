"""The in-memory event store: the saga test kit's store, held to the same contract as PostgreSQL.

Same validation, same errors, same canonical data and hash chain (so `verify` means the same
thing); no I/O. Events are kept as their canonical JSON text and decoded on every read, so a
caller that mutates a returned event's data cannot change history. Thread-safe: one lock makes
each append or batch atomic, the way one PostgreSQL transaction does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from event_store._canonical import GENESIS_HASH
from event_store._model import (
    AppendResult,
    BatchAppendResult,
    ConcurrencyError,
    InvalidEventError,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    UnknownPositionError,
)
from event_store._prepare import prepare_batch, validate_stream_id
from event_store._reads import check_read_all_args, check_stream_range, check_timestamp
from event_store.verify import VerifyReport, verify_events

__all__ = ["InMemoryEventStore"]

_ONE_MICROSECOND = timedelta(microseconds=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Stored:
    position: int
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data_json: str
    metadata_json: str
    recorded_at: datetime
    hash: str

    def recorded(self) -> RecordedEvent:
        return RecordedEvent(
            position=self.position,
            stream_id=self.stream_id,
            stream_type=self.stream_type,
            version=self.version,
            event_type=self.event_type,
            schema_version=self.schema_version,
            data=json.loads(self.data_json),
            metadata=json.loads(self.metadata_json),
            recorded_at=self.recorded_at,
            hash=self.hash,
        )


class InMemoryEventStore:
    """An `EventStore` in a Python list.

    `clock` gives `recorded_at`; it must return timezone-aware datetimes. Timestamps are kept
    strictly increasing (a clock that stands still advances by one microsecond per append) so
    point-in-time reads behave as they do on PostgreSQL, whose transaction clock never repeats.
    """

    def __init__(
        self,
        *,
        max_payload_bytes: int = 1_048_576,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._max_payload_bytes = max_payload_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._log: list[_Stored] = []
        self._streams: dict[str, list[_Stored]] = {}
        self._by_message_id: dict[tuple[str, str], AppendResult] = {}
        self._last_recorded_at: datetime | None = None

    def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        message_id: str | None = None,
    ) -> AppendResult:
        result = self.append_batch(
            [StreamAppend(stream_id, stream_type, expected_version, events, message_id)]
        )
        if stream_id in result.conflicts:
            raise result.conflicts[stream_id]
        return result.appended[stream_id]

    def append_batch(self, appends: Sequence[StreamAppend]) -> BatchAppendResult:
        prepared = prepare_batch(appends, self._max_payload_bytes)
        with self._lock:
            appended: dict[str, AppendResult] = {}
            conflicts: dict[str, ConcurrencyError] = {}
            accepted = []
            # Decide every stream before writing any, so an error leaves nothing half-written.
            for item in sorted(prepared, key=lambda p: p.stream_id):
                if item.message_id is not None:
                    earlier = self._by_message_id.get((item.stream_id, item.message_id))
                    if earlier is not None:
                        appended[item.stream_id] = replace(earlier, deduplicated=True)
                        continue
                stream = self._streams.get(item.stream_id, [])
                if stream and stream[0].stream_type != item.stream_type:
                    raise InvalidEventError(
                        f"stream {item.stream_id!r} is of type {stream[0].stream_type!r}, "
                        f"not {item.stream_type!r}"
                    )
                if len(stream) != item.expected_version:
                    conflicts[item.stream_id] = ConcurrencyError(
                        item.stream_id, item.expected_version, len(stream)
                    )
                    continue
                accepted.append(item)
            if not accepted:
                return BatchAppendResult(appended, conflicts)
            recorded_at = self._tick()
            for item in accepted:
                stream = self._streams.setdefault(item.stream_id, [])
                previous_hash = stream[-1].hash if stream else GENESIS_HASH
                positions = []
                for version, event, hash_ in item.sealed(previous_hash, recorded_at):
                    stored = _Stored(
                        position=len(self._log) + 1,
                        stream_id=item.stream_id,
                        stream_type=item.stream_type,
                        version=version,
                        event_type=event.event_type,
                        schema_version=event.schema_version,
                        data_json=event.data_json,
                        metadata_json=event.metadata_json,
                        recorded_at=recorded_at,
                        hash=hash_,
                    )
                    self._log.append(stored)
                    stream.append(stored)
                    positions.append(stored.position)
                result = AppendResult(
                    stream_id=item.stream_id,
                    first_version=item.expected_version + 1,
                    last_version=item.expected_version + len(item.events),
                    positions=tuple(positions),
                )
                if item.message_id is not None:
                    self._by_message_id[(item.stream_id, item.message_id)] = result
                appended[item.stream_id] = result
            return BatchAppendResult(appended, conflicts)

    def _tick(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the clock returned a naive datetime; it must be timezone-aware")
        if self._last_recorded_at is not None and now <= self._last_recorded_at:
            now = self._last_recorded_at + _ONE_MICROSECOND
        self._last_recorded_at = now
        return now

    def read_stream(
        self, stream_id: str, from_version: int = 1, to_version: int | None = None
    ) -> list[RecordedEvent]:
        validate_stream_id(stream_id)
        check_stream_range(from_version, to_version)
        with self._lock:
            stream = list(self._streams.get(stream_id, ()))
        last = len(stream) if to_version is None else min(to_version, len(stream))
        return [stored.recorded() for stored in stream[from_version - 1 : last]]

    def read_stream_until(self, stream_id: str, recorded_before: datetime) -> list[RecordedEvent]:
        validate_stream_id(stream_id)
        check_timestamp(recorded_before)
        with self._lock:
            stream = list(self._streams.get(stream_id, ()))
        result = []
        for stored in stream:
            if stored.recorded_at >= recorded_before:
                break
            result.append(stored.recorded())
        return result

    def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        check_read_all_args(after_position, limit)
        with self._lock:
            # Positions here are 1..n without gaps, so "stored" means "at most n".
            if after_position > len(self._log):
                raise UnknownPositionError(after_position)
            window = self._log[after_position : after_position + limit]
        return [stored.recorded() for stored in window]

    def verify(self, stream_id: str | None = None) -> VerifyReport:
        with self._lock:
            if stream_id is None:
                ordered = [
                    stored for _, stream in sorted(self._streams.items()) for stored in stream
                ]
            else:
                ordered = list(self._streams.get(validate_stream_id(stream_id), ()))
        return verify_events(stored.recorded() for stored in ordered)
