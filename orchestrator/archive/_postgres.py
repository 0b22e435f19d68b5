"""PostgreSQL side of exports and anchors: heads, the events of a selection, the import.

The statements are written here, against the `events` table of event_store's migrations,
because the store has no read of stream heads yet; they belong in event_store (a
`stream_heads()` read) once a second caller wants them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

from event_store import RecordedEvent, canonical_json
from orchestrator.archive._anchor import Anchor, StoredHead
from orchestrator.archive._heads import StreamHead

__all__ = [
    "HeadRow",
    "NotEmptyError",
    "Snapshot",
    "import_events",
    "read_snapshot",
    "store_is_empty",
    "stored_heads",
]

Connection = psycopg.Connection[Any]

# Every stream's head by a skip scan of the (stream_id, version) unique index: one probe for
# the next stream id, one backward probe for its last version, one for its first event's
# time. Never a scan of the log, which may hold millions of events over few streams.
HEADS_SQL: Final = """
WITH RECURSIVE streams(stream_id) AS (
    (SELECT stream_id FROM events ORDER BY stream_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.stream_id FROM events e WHERE e.stream_id > s.stream_id
            ORDER BY e.stream_id LIMIT 1)
    FROM streams s WHERE s.stream_id IS NOT NULL
)
SELECT s.stream_id, h.stream_type, h.version, h.hash, first.recorded_at
FROM streams s
CROSS JOIN LATERAL (
    SELECT e.stream_type, e.version, e.hash FROM events e
    WHERE e.stream_id = s.stream_id ORDER BY e.version DESC LIMIT 1
) h
LEFT JOIN LATERAL (
    SELECT e.recorded_at FROM events e WHERE e.stream_id = s.stream_id AND e.version = 1
) first ON true
WHERE s.stream_id IS NOT NULL
ORDER BY s.stream_id
"""

ONE_HEAD_SQL: Final = """
SELECT e.stream_id, e.stream_type, e.version, e.hash,
       (SELECT f.recorded_at FROM events f WHERE f.stream_id = e.stream_id AND f.version = 1)
FROM events e WHERE e.stream_id = %s ORDER BY e.version DESC LIMIT 1
"""

GLOBAL_POSITION_SQL: Final = "SELECT coalesce(max(position), 0) FROM events"

EVENT_COLUMNS: Final = (
    "position, stream_id, stream_type, version, event_type, schema_version, data::text, "
    "metadata::text, recorded_at, hash"
)
ALL_EVENTS_SQL: Final = f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position"
STREAM_EVENTS_SQL: Final = (
    f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ANY(%s) ORDER BY position"
)

# For each anchored stream: its last version now, and the hash of its event at the anchored
# version (two index probes each).
STORED_HEADS_SQL: Final = """
SELECT a.stream_id, coalesce(h.version, 0), e.hash
FROM unnest(%(streams)s::text[], %(versions)s::int[]) AS a(stream_id, version)
LEFT JOIN LATERAL (
    SELECT x.version FROM events x WHERE x.stream_id = a.stream_id
    ORDER BY x.version DESC LIMIT 1
) h ON true
LEFT JOIN events e ON e.stream_id = a.stream_id AND e.version = a.version
"""

# The import holds this transaction-level lock, so two imports cannot both find the store
# empty; the key is arbitrary but fixed ("saga-import").
IMPORT_LOCK_KEY: Final = 0x7361676169
INSERT_SQL: Final = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data,
                    metadata, recorded_at, hash)
SELECT u.stream_id, u.stream_type, u.version, u.event_type, u.schema_version, u.data::jsonb,
       u.metadata::jsonb, u.recorded_at, u.hash
FROM unnest(%(stream_ids)s::text[], %(stream_types)s::text[], %(versions)s::int[],
            %(event_types)s::text[], %(schema_versions)s::int[], %(data)s::text[],
            %(metadata)s::text[], %(recorded_at)s::timestamptz[], %(hashes)s::text[])
     WITH ORDINALITY
     AS u(stream_id, stream_type, version, event_type, schema_version, data, metadata,
          recorded_at, hash, n)
ORDER BY u.n
"""
IMPORT_BATCH: Final = 2000


class NotEmptyError(Exception):
    """The target store already holds events; an import would mix two histories."""


@dataclass(frozen=True, slots=True)
class HeadRow:
    head: StreamHead
    stream_type: str
    first_recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    global_position: int
    heads: Sequence[HeadRow]


def read_snapshot(conn: Connection, stream_id: str | None = None) -> Snapshot:
    """Heads (of one stream, or of all) and the highest position, in the caller's snapshot."""
    if stream_id is None:
        rows = conn.execute(HEADS_SQL).fetchall()
    else:
        rows = conn.execute(ONE_HEAD_SQL, [stream_id]).fetchall()
    position_row = conn.execute(GLOBAL_POSITION_SQL).fetchone()
    heads = [HeadRow(StreamHead(r[0], r[2], r[3]), r[1], r[4]) for r in rows]
    return Snapshot(int(position_row[0]) if position_row else 0, heads)


def _event(row: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(
        row[0], row[1], row[2], row[3], row[4], row[5],
        json.loads(row[6]), json.loads(row[7]), row[8], row[9],
    )  # fmt: skip


def iter_events(
    conn: Connection, stream_ids: Sequence[str] | None, batch_size: int = 2000
) -> Iterator[RecordedEvent]:
    """The events (of `stream_ids`, or all), in position order; call inside the transaction
    that read the snapshot, so the events are exactly those its heads describe."""
    with conn.cursor(name="archive_export", binary=True) as cursor:
        cursor.itersize = batch_size
        if stream_ids is None:
            cursor.execute(ALL_EVENTS_SQL)
        else:
            cursor.execute(STREAM_EVENTS_SQL, [list(stream_ids)])
        for row in cursor:
            yield _event(row)


def stored_heads(conn: Connection, anchor: Anchor) -> list[StoredHead]:
    rows = conn.execute(
        STORED_HEADS_SQL,
        {
            "streams": [h.stream_id for h in anchor.heads],
            "versions": [h.version for h in anchor.heads],
        },
    ).fetchall()
    return [StoredHead(r[0], int(r[1]), r[2]) for r in rows]


def store_is_empty(conn: Connection) -> bool:
    row = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM events)").fetchone()
    return bool(row and row[0])


def import_events(conninfo: str, events: Iterable[RecordedEvent]) -> int:
    """Insert `events` (already verified) as they are, hashes and times included, in one
    transaction, into a store that must be empty. Positions are assigned anew by the table's
    identity column, in the export's order: PostgreSQL does not let the application role set
    them, and no chain depends on them."""
    count = 0
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
        if not store_is_empty(conn):
            raise NotEmptyError("the target store holds events; import only into an empty one")
        batch: list[RecordedEvent] = []
        for event in events:
            batch.append(event)
            if len(batch) >= IMPORT_BATCH:
                count += _insert(conn, batch)
                batch = []
        if batch:
            count += _insert(conn, batch)
    return count


def _insert(conn: Connection, batch: Sequence[RecordedEvent]) -> int:
    conn.execute(
        INSERT_SQL,
        {
            "stream_ids": [e.stream_id for e in batch],
            "stream_types": [e.stream_type for e in batch],
            "versions": [e.version for e in batch],
            "event_types": [e.event_type for e in batch],
            "schema_versions": [e.schema_version for e in batch],
            "data": [canonical_json(e.data) for e in batch],
            "metadata": [canonical_json(e.metadata) for e in batch],
            "recorded_at": [e.recorded_at for e in batch],
            "hashes": [e.hash for e in batch],
        },
    )
    return len(batch)
