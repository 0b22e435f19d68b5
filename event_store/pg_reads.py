"""Reads on a caller's own PostgreSQL connection, for tools that work inside a transaction of
their own (a read-model rebuild, a catch-up projector holding its checkpoint row locked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg

from event_store import _pg_sql as sql
from event_store._model import RecordedEvent
from event_store._reads import MAX_VERSION

__all__ = [
    "StreamMark",
    "iter_all_by_stream",
    "read_marks",
    "read_stream",
    "readable_head",
    "wait_for_horizon",
]

Connection = psycopg.Connection[Any]

# read_all's page without the payloads: which streams moved, to what version (gap-safe alike).
_READ_MARKS_SQL = f"""
SELECT position, stream_id, stream_type, version FROM events
WHERE (tx_id, position) > (%(after_tx)s::xid8, %(after_position)s)
  AND tx_id < {sql.HORIZON_SQL}
ORDER BY tx_id, position
LIMIT %(limit)s
"""
# The last event read_all would return now: where a reader that has seen everything resumes.
_READABLE_HEAD_SQL = f"""
SELECT position FROM events WHERE tx_id < {sql.HORIZON_SQL}
ORDER BY tx_id DESC, position DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class StreamMark:
    position: int
    stream_id: str
    stream_type: str
    version: int


def read_marks(conn: Connection, after_position: int, limit: int) -> list[StreamMark]:
    """What `read_all(after_position, limit)` would return, without data or metadata."""
    after_tx = sql.tx_of(conn, after_position)
    rows = conn.execute(
        _READ_MARKS_SQL,
        {"after_tx": after_tx, "after_position": after_position, "limit": limit},
        binary=True,
    ).fetchall()
    return [StreamMark(*row) for row in rows]


def readable_head(conn: Connection) -> int:
    """The position of the last event read_all can return now (0 for an empty log)."""
    row = conn.execute(_READABLE_HEAD_SQL).fetchone()
    return int(row[0]) if row is not None else 0


def read_stream(conn: Connection, stream_id: str) -> list[RecordedEvent]:
    params = {"stream_id": stream_id, "from_version": 1, "to_version": MAX_VERSION}
    rows = conn.execute(sql.READ_STREAM_SQL, params, binary=True).fetchall()
    return [sql.recorded_event(row) for row in rows]


def iter_all_by_stream(conn: Connection, batch_size: int = 2000) -> Iterator[RecordedEvent]:
    """Every event, grouped by stream in version order; call inside a transaction."""
    return sql.iter_all_by_stream(conn, batch_size)


def wait_for_horizon(conn: Connection, timeout: float) -> bool:
    """Wait until read_all can see every event committed before this call; False on timeout."""
    return sql.wait_for_horizon(conn, timeout)
