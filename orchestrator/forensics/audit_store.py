"""`sagactl audit` over a PostgreSQL store: one streamed pass over every event, in one
REPEATABLE READ snapshot.

Each row is parsed once: its data and metadata feed the chain check (``archive._chains``),
the typed events (folded by the live ``evolve`` in ``_invariants``), and the read-model fold
(``_read_models``), whose rows are compared with the stored ones a fetch of streams at a time.
The statements on ``saga_instances`` and ``timers`` are written here (event_store's
projections read rows by key for the projector, not a stream's rows for a check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
import pydantic

from event_store import RecordedEvent
from orchestrator.archive.scanning import (
    PARALLEL_FROM,
    ChainState,
    Row,
    Slice,
    check_link,
    count_events,
    encode_value,
    fast_encode,
    fast_json,
    fast_parse,
    in_slice,
    map_slices,
    parse,
    scan_rows,
    store_snapshot,
    truncated_tails,
)
from orchestrator.forensics._invariants import (
    DeadLetterToFind,
    Invariant,
    Violation,
    audit_saga,
)
from orchestrator.forensics._read_models import (
    INSTANCE_COLUMNS,
    TIMER_COLUMNS,
    InstanceRow,
    TimerRow,
    differences,
    fresh_rows,
)
from orchestrator.saga import RegistryError, ReplayError, SagaRegistry
from orchestrator.saga import events as ev

__all__ = ["StoreAudit", "audit_store"]

Connection = psycopg.Connection[Any]
Progress = Callable[[int, int, int], None]

_INSTANCES_SQL: Final = (
    f"SELECT {', '.join(INSTANCE_COLUMNS)} FROM saga_instances WHERE stream_id = ANY(%s)"
)
_TIMERS_SQL: Final = f"SELECT {', '.join(TIMER_COLUMNS)} FROM timers WHERE stream_id = ANY(%s)"
# Projection rows of streams that have no event at all.
_ORPHANS_SQL: Final = """
SELECT stream_id, 'saga_instances' FROM saga_instances s
WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.stream_id)
UNION ALL
SELECT DISTINCT stream_id, 'timers' FROM timers t
WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = t.stream_id)
ORDER BY 1, 2
"""


@dataclass
class StoreAudit:
    streams: int = 0
    events: int = 0
    violations: list[Violation] = field(default_factory=list)
    parked: list[DeadLetterToFind] = field(default_factory=list)

    def merge(self, other: StoreAudit) -> None:
        self.streams += other.streams
        self.events += other.events
        self.violations.extend(other.violations)
        self.parked.extend(other.parked)


@dataclass(frozen=True)
class _Judge:
    """What every saga is judged with."""

    registry: SagaRegistry
    now: datetime
    grace: timedelta


@dataclass
class _Stream:
    stream_id: str
    chain: ChainState = field(default_factory=ChainState)
    events: list[RecordedEvent] = field(default_factory=list)


def audit_store(
    conninfo: str,
    registry: SagaRegistry,
    now: datetime,
    grace: timedelta,
    *,
    progress: Progress | None = None,
    jobs: int = 1,
) -> StoreAudit:
    """Every per-saga invariant, the chains (without anchors: the caller's) and the
    projections, over ``jobs`` processes, in one snapshot; the dead letters of parked sagas
    are listed for the caller to look up."""
    global _JUDGE  # noqa: PLW0603 - what forked slices inherit (a registry does not pickle)
    result = StoreAudit()
    judge = _JUDGE = _Judge(registry, now, grace)
    with store_snapshot(conninfo) as (conn, snapshot):
        total = count_events(conn)
        if jobs <= 1 or total < PARALLEL_FROM:
            _scan(conn, None, judge, result, lambda done: _say(progress, done, total))
        else:
            for part in map_slices(conninfo, conn, snapshot, _audit_part, jobs):
                result.merge(part)
                _say(progress, result.events, total)
        _say(progress, result.events, total)
        result.violations.extend(_tails_and_orphans(conn))
    result.violations.sort(key=lambda v: (v.saga_id, v.invariant.value, v.version or 0))
    return result


_JUDGE: _Judge | None = None


def _say(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, done, total)


def _audit_part(conninfo: str, part: Slice) -> StoreAudit:
    """One slice of the store, in a forked process of its own."""
    assert _JUDGE is not None
    result = StoreAudit()
    with in_slice(conninfo, part) as conn:
        _scan(conn, part, _JUDGE, result, lambda done: None)
    return result


def _scan(
    conn: Connection,
    part: Slice | None,
    judge: _Judge,
    result: StoreAudit,
    fetched: Callable[[int], None],
) -> None:
    current: _Stream | None = None
    for rows in scan_rows(conn, None, part):
        finished: list[_Stream] = []
        for row in rows:
            if current is None or row[1] != current.stream_id:
                if current is not None:
                    finished.append(current)
                current = _Stream(row[1])
            _feed(current, row)
        _judge(conn, finished, judge, result)
        fetched(result.events + _pending(current))
    if current is not None:
        _judge(conn, [current], judge, result)


def _pending(stream: _Stream | None) -> int:
    return 0 if stream is None else len(stream.events)


def _feed(stream: _Stream, row: Row) -> None:
    data_text, metadata_text = row[6], row[7]
    data: Any = None
    canonical: Callable[[Any], str] = encode_value
    if fast_json(data_text) and fast_json(metadata_text):
        try:
            data, metadata = fast_parse(data_text), fast_parse(metadata_text)
            canonical = fast_encode
        except ValueError:
            data = None  # an integer orjson does not take: the stdlib's way
    if data is None:
        try:
            data, metadata = parse(data_text), parse(metadata_text)
            canonical = encode_value
        except ValueError:
            # Not JSON the chain can hold: the chain check names the event, nothing is folded.
            check_link(stream.chain, row)
            data, metadata, canonical = {}, {}, encode_value
            stream.events.append(_recorded(row, data, metadata))
            return
    check_link(stream.chain, row, data, metadata, canonical)
    stream.events.append(_recorded(row, data, metadata))


def _recorded(row: Row, data: Any, metadata: Any) -> RecordedEvent:
    return RecordedEvent(
        row[0], row[1], row[2], row[3], row[4], row[5], data, metadata,
        datetime.fromisoformat(row[8]), row[9],
    )  # fmt: skip


def _judge(conn: Connection, streams: Sequence[_Stream], judge: _Judge, result: StoreAudit) -> None:
    if not streams:
        return
    ids = [stream.stream_id for stream in streams]
    instances = {row[0]: InstanceRow(*row) for row in conn.execute(_INSTANCES_SQL, [ids])}
    timers: dict[str, list[TimerRow]] = {}
    for row in conn.execute(_TIMERS_SQL, [ids]):
        timers.setdefault(row[0], []).append(TimerRow(*row))
    for stream in streams:
        result.streams += 1
        result.events += len(stream.events)
        broken = stream.chain.break_
        if broken is not None:
            result.violations.append(
                Violation(stream.stream_id, Invariant.CHAIN, broken.version, broken.reason)
            )
        fresh = fresh_rows(judge.registry, stream.events)
        if fresh is not None:
            for phrase in differences(
                fresh, instances.get(stream.stream_id), timers.get(stream.stream_id, ())
            ):
                result.violations.append(
                    Violation(stream.stream_id, Invariant.PROJECTION, None, phrase)
                )
        _fold(stream, judge, result)


def _fold(stream: _Stream, judge: _Judge, result: StoreAudit) -> None:
    try:
        typed = [ev.event_from_data(e.event_type, e.data, e.schema_version) for e in stream.events]
        definition = judge.registry.for_history(typed)
        audit = audit_saga(definition, stream.stream_id, typed, judge.now, judge.grace)
    except (RegistryError, ReplayError, ValueError, pydantic.ValidationError) as exc:
        # ValueError covers an unknown event type and pydantic's refusals alike.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        result.violations.append(
            Violation(stream.stream_id, Invariant.UNREADABLE, None, f"cannot be folded: {first}")
        )
        return
    result.violations.extend(audit.violations)
    result.parked.extend(audit.parked)


def _tails_and_orphans(conn: Connection) -> Iterator[Violation]:
    for item in truncated_tails(conn):
        yield Violation(item.stream_id, Invariant.CHAIN, item.version, item.reason)
    for stream_id, table in conn.execute(_ORPHANS_SQL):
        yield Violation(
            stream_id,
            Invariant.PROJECTION,
            None,
            f"{table} has rows for a stream with no events",
        )
