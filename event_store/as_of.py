"""Point-in-time reads over streams: which streams existed at an instant, and their events up
to it (`sagactl saga list --at`). Index walks only (migration 051's events_stream_start_idx
and the (stream_id, version) key), whatever the size of the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from event_store import _pg_sql as sql
from event_store._model import RecordedEvent

__all__ = ["events_until", "streams_started_by"]

_STREAMS_STARTED_BY = """
SELECT stream_id FROM events
WHERE version = 1 AND recorded_at <= %(at)s AND stream_id > %(after)s
  AND (%(stream_type)s::text IS NULL OR stream_type = %(stream_type)s)
ORDER BY stream_id
LIMIT %(limit)s
"""
_EVENTS_UNTIL = f"""
SELECT {sql.EVENT_COLUMNS} FROM events
WHERE stream_id = ANY(%(stream_ids)s) AND recorded_at <= %(at)s
ORDER BY stream_id, version
"""


def streams_started_by(
    conn: psycopg.Connection[Any],
    at: datetime,
    *,
    after: str,
    stream_type: str | None,
    limit: int,
) -> list[str]:
    """Ids of the streams (of `stream_type`, or any) whose first event was recorded at or before
    `at`, in id order after `after` ("" from the start): an index-only walk along
    events_stream_start_idx (migration 051), whatever the size of the log."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    params = {"at": at, "after": after, "stream_type": stream_type, "limit": limit}
    return [row[0] for row in conn.execute(_STREAMS_STARTED_BY, params).fetchall()]


def events_until(
    conn: psycopg.Connection[Any], stream_ids: list[str], at: datetime
) -> list[RecordedEvent]:
    """The events of `stream_ids` recorded at or before `at`, by stream then version: one
    ordered read along events_stream_version_key. A stream's prefix is what it was at `at`;
    a caller stops a stream at the first missing version (an event after one recorded later)."""
    rows = conn.execute(_EVENTS_UNTIL, {"stream_ids": stream_ids, "at": at}, binary=True).fetchall()
    return [sql.recorded_event(row) for row in rows]
