"""SQL of the PostgreSQL store and the mapping of its rows, kept apart from connection handling.

Functions here take a connection and run inside whatever transaction the caller holds, so the
store, the projector and `rebuild` read events through the very same statements.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from event_store._model import RecordedEvent, UnknownPositionError
from event_store._reads import MAX_VERSION

Connection = psycopg.Connection[Any]

# data and metadata travel as text and are parsed by recorded_event: psycopg's jsonb loader
# is Python code per value and cost twice the parsing itself when replaying a long stream.
EVENT_COLUMNS = (
    "position, stream_id, stream_type, version, event_type, schema_version, data::text, "
    "metadata::text, recorded_at, hash"
)

# One round trip tells, for every stream of a batch: its head (version, hash, type), whether
# its message id was already recorded (and the earlier append's versions and positions), and
# the transaction's clock. clock_timestamp() runs after this statement's snapshot was taken, so
# it is later than the recorded_at of every event the snapshot shows: recorded_at increases
# along every stream, which point-in-time reads rely on.
HEADS_SQL = """
SELECT req.stream_id, head.version, head.hash, head.stream_type,
       dup.first_version, dup.last_version, dup.positions,
       (SELECT clock_timestamp())
FROM unnest(%(streams)b::text[], %(message_ids)b::text[]) AS req(stream_id, message_id)
LEFT JOIN LATERAL (
    SELECT e.version, e.hash, e.stream_type FROM events e
    WHERE e.stream_id = req.stream_id
    ORDER BY e.version DESC LIMIT 1
) head ON true
LEFT JOIN LATERAL (
    SELECT min(e.version) AS first_version, max(e.version) AS last_version,
           array_agg(e.position ORDER BY e.version) AS positions
    FROM events e
    WHERE req.message_id IS NOT NULL
      AND e.stream_id = req.stream_id
      AND e.metadata ->> 'message_id' = req.message_id
) dup ON true
"""

# Arrays go as binary parameters (%(...)b): in text format psycopg escapes every element with
# a regex, which cost more than the INSERT itself.
# Rows arrive sorted by (stream_id, version): two batches touching the same streams then wait
# on each other's unique-index entries in one consistent order, never in a cycle (deadlock).
INSERT_SQL = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data,
                    metadata, recorded_at, hash)
SELECT u.stream_id, u.stream_type, u.version, u.event_type, u.schema_version, u.data::jsonb,
       u.metadata::jsonb, %(recorded_at)s, u.hash
FROM unnest(%(stream_ids)b::text[], %(stream_types)b::text[], %(versions)b::int[],
            %(event_types)b::text[], %(schema_versions)b::int[], %(data)b::text[],
            %(metadata)b::text[], %(hashes)b::text[])
     AS u(stream_id, stream_type, version, event_type, schema_version, data, metadata, hash)
RETURNING position, stream_id, version
"""

READ_STREAM_SQL = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE stream_id = %(stream_id)s AND version BETWEEN %(from_version)s AND %(to_version)s
ORDER BY version
"""

# The prefix of the stream recorded strictly before the moment: what a reader saw then.
READ_STREAM_UNTIL_SQL = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE stream_id = %(stream_id)s
  AND version < coalesce(
      (SELECT min(version) FROM events
       WHERE stream_id = %(stream_id)s AND recorded_at >= %(before)s),
      {MAX_VERSION})
ORDER BY version
"""

STREAM_VERSION_SQL = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"

# Gap-safe tailing. Positions are taken when rows are inserted but become visible when their
# transaction commits, in another order: a reader paging by position alone would skip an event
# whose transaction commits after a later position was read. So events are read in (tx_id,
# position) order and only from transactions older than the horizon: the oldest transaction
# still running that could write to this database. Every older one has finished, and any that
# could still commit has a larger tx_id, so it sorts after everything already returned.
#
# The horizon is the statement snapshot's own list of running transactions (pg_snapshot_xip,
# consistent with what the rest of the statement sees) minus those known to belong to another
# database (pg_stat_activity, pg_prepared_xacts): a long write transaction in some other
# database on the server must not stall the outbox and the projections. A transaction that
# cannot be attributed stays in: the horizon errs on the safe side, never past a writer of ours.
# backend_xid is a 32-bit xid, compared with the low 32 bits of the snapshot's xid8 values
# (transactions running at the same time cannot be 2^32 apart).
HORIZON_SQL = """
(SELECT coalesce(
    (SELECT min(running) FROM pg_snapshot_xip(pg_current_snapshot()) AS running
     WHERE mod(running::text::numeric, 4294967296)::bigint::text NOT IN (
         SELECT backend_xid::text FROM pg_stat_activity
         WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
         UNION ALL
         SELECT transaction::text FROM pg_prepared_xacts WHERE database <> current_database())),
    pg_snapshot_xmax(pg_current_snapshot())))
"""

READ_ALL_SQL = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE (tx_id, position) > (%(after_tx)s::xid8, %(after_position)s)
  AND tx_id < {HORIZON_SQL}
ORDER BY tx_id, position
LIMIT %(limit)s
"""

# Tail of one event type (the outbox relay's CommandIssued): the matching page and, in the same
# statement (same snapshot, same horizon), the last event of the log below the horizon. When the
# page is not full, no matching event lies between it and that head, so a reader may move its
# checkpoint to the head and not scan the same unrelated events again on its next poll. Each
# row also carries its transaction id, and so does the head: the reader's next call resumes
# from one of them and need not look its transaction up again (see read_type).
READ_TYPE_SQL = f"""
WITH horizon AS MATERIALIZED (SELECT {HORIZON_SQL} AS xid),
page AS (
    SELECT {EVENT_COLUMNS}, tx_id::text FROM events
    WHERE (tx_id, position) > (%(after_tx)s::xid8, %(after_position)s)
      AND tx_id < (SELECT xid FROM horizon)
      AND event_type = ANY(%(event_types)s)
    ORDER BY tx_id, position
    LIMIT %(limit)s
),
head AS (
    SELECT position, tx_id::text AS tx FROM events
    WHERE (tx_id, position) > (%(after_tx)s::xid8, %(after_position)s)
      AND tx_id < (SELECT xid FROM horizon)
    ORDER BY tx_id DESC, position DESC
    LIMIT 1
)
SELECT page.*, (SELECT position FROM head), (SELECT tx FROM head) FROM page
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       (SELECT position FROM head), (SELECT tx FROM head)
WHERE NOT EXISTS (SELECT 1 FROM page)
"""

TX_OF_POSITION_SQL = "SELECT tx_id::text FROM events WHERE position = %s"

VERIFY_ALL_SQL = f"SELECT {EVENT_COLUMNS} FROM events ORDER BY stream_id, version"

# Streams whose projection has folded a later version than the log now holds: their newest
# events were removed, which no hash chain can show by itself.
TRUNCATED_TAILS_SQL = """
SELECT s.stream_id, s.last_version, s.last_position, coalesce(h.version, 0)
FROM saga_instances s
LEFT JOIN LATERAL (
    SELECT e.version FROM events e WHERE e.stream_id = s.stream_id
    ORDER BY e.version DESC LIMIT 1
) h ON true
WHERE s.last_version > coalesce(h.version, 0)
  AND (%(stream_id)s::text IS NULL OR s.stream_id = %(stream_id)s)
ORDER BY s.stream_id
"""


_decode_json = json.JSONDecoder().raw_decode


def parse_json(text: str) -> Any:
    # jsonb's text form is compact JSON without surrounding whitespace; handing it straight to
    # the decoder's scanner skips json.loads' whitespace regexes. Anything else: the long way.
    try:
        value, end = _decode_json(text)
    except json.JSONDecodeError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def recorded_event(row: tuple[Any, ...]) -> RecordedEvent:
    position, stream_id, stream_type, version, event_type, schema_version = row[:6]
    return RecordedEvent(
        position,
        stream_id,
        stream_type,
        version,
        event_type,
        schema_version,
        parse_json(row[6]),
        parse_json(row[7]),
        row[8],
        row[9],
    )


def tx_of(conn: Connection, after_position: int) -> str:
    """The writing transaction of the event a reader resumes after ('0' from the start)."""
    if after_position == 0:
        return "0"
    row = conn.execute(TX_OF_POSITION_SQL, [after_position]).fetchone()
    if row is None:
        raise UnknownPositionError(after_position)
    return str(row[0])


def read_all(conn: Connection, after_position: int, limit: int) -> list[RecordedEvent]:
    after_tx = tx_of(conn, after_position)
    rows = conn.execute(
        READ_ALL_SQL,
        {"after_tx": after_tx, "after_position": after_position, "limit": limit},
        binary=True,  # binary timestamps and integers decode faster than their text
    ).fetchall()
    return [recorded_event(row) for row in rows]


def read_type(
    conn: Connection,
    after_position: int,
    event_types: Sequence[str],
    limit: int,
    after_tx: str | None = None,
) -> tuple[list[RecordedEvent], int, str]:
    """Events of `event_types` after `after_position` in gap-safe order, the position a
    reader may resume from (the last event returned when the page is full, else the head of
    the readable log: nothing of those types lies before it), and that position's transaction
    id. `after_tx`, when the caller has it from the previous call, saves looking it up."""
    if after_tx is None:
        after_tx = tx_of(conn, after_position)
    rows = conn.execute(
        READ_TYPE_SQL,
        {
            "after_tx": after_tx,
            "after_position": after_position,
            "event_types": list(event_types),
            "limit": limit,
        },
        binary=True,
    ).fetchall()
    events = [recorded_event(row[:10]) for row in rows if row[0] is not None]
    head = rows[0][11] if rows else None
    if len(events) == limit or head is None:
        if events:
            return events, events[-1].position, str(rows[len(events) - 1][10])
        return events, after_position, after_tx
    return events, head, str(rows[0][12])


def wait_for_horizon(conn: Connection, timeout: float, poll_interval: float = 0.05) -> bool:
    """Wait until read_all can see every event committed before this call; False on timeout.

    read_all holds back events of transactions newer than the oldest one still running that may
    write to this database. Call outside a transaction: one's own open transaction would hold
    the horizon back forever.
    """
    row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    target = row[0] if row is not None else "0"
    deadline = time.monotonic() + timeout
    while True:
        reached = conn.execute(f"SELECT {HORIZON_SQL} >= %s::xid8", [target]).fetchone()
        if reached is not None and reached[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_interval)


def iter_all_by_stream(conn: Connection, batch_size: int = 2000) -> Iterator[RecordedEvent]:
    """Every event, grouped by stream in version order; call inside a transaction."""
    with conn.cursor(name="event_store_scan", binary=True) as cursor:
        cursor.itersize = batch_size
        cursor.execute(VERIFY_ALL_SQL)
        for row in cursor:
            yield recorded_event(row)
