"""The store's chains recomputed in one streamed pass: what `sagactl verify` and `db verify`
(and `sagactl audit`) run over the whole log.

One server-side cursor over ``(stream_id, version)`` in large fetches, data and metadata as
JSON text, so a row costs Python no dict and no ``RecordedEvent``: the chain check of
``_chains`` runs on the strings. On the server the cost of a row is jsonb's text output
(~3/4 of it); recorded_at travels in binary and is spelt the chain's way here, which is cheaper
than PostgreSQL's ``to_char``.
The statements are written here against the ``events`` and ``saga_instances`` tables of
event_store's migrations (``event_store.verify`` has only the per-event check, and its
PostgreSQL store reads every event as a ``RecordedEvent``); they belong in event_store once
its own ``verify`` takes this path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import psycopg

from event_store import ChainBreak, VerifyReport
from orchestrator.archive._chains import ChainState, Row, check_link
from orchestrator.archive._slices import Slice, in_slice, map_slices, store_snapshot

__all__ = [
    "PARALLEL_FROM",
    "SCAN_COLUMNS",
    "Row",
    "count_events",
    "scan_rows",
    "truncated_tails",
    "verify_store",
]

Connection = psycopg.Connection[Any]
Progress = Callable[[int, int, int], None]

SCAN_COLUMNS: Final = (
    "position, stream_id, stream_type, version, event_type, schema_version, data::text, "
    "metadata::text, recorded_at, hash"
)
_ALL_SQL: Final = f"SELECT {SCAN_COLUMNS} FROM events ORDER BY stream_id, version"
_ONE_SQL: Final = f"SELECT {SCAN_COLUMNS} FROM events WHERE stream_id = %s ORDER BY version"
_FROM_SQL: Final = (
    f"SELECT {SCAN_COLUMNS} FROM events WHERE stream_id >= %s ORDER BY stream_id, version"
)
_BETWEEN_SQL: Final = (
    f"SELECT {SCAN_COLUMNS} FROM events WHERE stream_id >= %s AND stream_id < %s "
    "ORDER BY stream_id, version"
)
_COUNT_SQL: Final = "SELECT count(*) FROM events"
_COUNT_ONE_SQL: Final = "SELECT count(*) FROM events WHERE stream_id = %s"
# Rows per round trip: large enough that the per-fetch cost vanishes, small enough to keep a
# fetch's rows (a few MB) in memory.
FETCH_ROWS: Final = 10_000
# Below this many events a scan stays in one process: forking and a connection per slice cost
# more than they save (and a process running threads, a test's world, is best not forked).
PARALLEL_FROM: Final = 50_000

# Streams whose projection folded a later version than the log now holds: their newest events
# were removed, which no chain shows by itself (event_store's TRUNCATED_TAILS_SQL, same query).
_TRUNCATED_TAILS_SQL: Final = """
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


def count_events(conn: Connection, stream_id: str | None = None) -> int:
    if stream_id is None:
        row = conn.execute(_COUNT_SQL).fetchone()
    else:
        row = conn.execute(_COUNT_ONE_SQL, [stream_id]).fetchone()
    return int(row[0]) if row else 0


def scan_rows(
    conn: Connection, stream_id: str | None = None, part: Slice | None = None
) -> Iterator[list[Row]]:
    """Every event (of one stream, of a slice, or all) in (stream_id, version) order, a fetch
    at a time; call inside a transaction (a named cursor lives in one)."""
    # Instants come back in the session's zone: UTC, so that isoformat() ends in +00:00.
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    with conn.cursor(name="forensic_scan", binary=True) as cursor:
        if stream_id is not None:
            cursor.execute(_ONE_SQL, [stream_id])
        elif part is None or (part.lo == "" and part.hi is None):
            cursor.execute(_ALL_SQL)
        elif part.hi is None:
            cursor.execute(_FROM_SQL, [part.lo])
        else:
            cursor.execute(_BETWEEN_SQL, [part.lo, part.hi])
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield [(*row[:8], _chain_time(row[8]), row[9]) for row in rows]


def _chain_time(moment: datetime) -> str:
    """``format_timestamp`` of a UTC instant (YYYY-MM-DDTHH:MM:SS.ffffffZ), without strftime."""
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def truncated_tails(conn: Connection, stream_id: str | None = None) -> list[ChainBreak]:
    rows = conn.execute(_TRUNCATED_TAILS_SQL, {"stream_id": stream_id}).fetchall()
    breaks = []
    for stream, last_version, last_position, head in rows:
        missing = head + 1
        breaks.append(
            ChainBreak(
                stream_id=stream,
                version=missing,
                position=last_position if missing == last_version else 0,
                reason=(
                    f"version {missing} is missing: the stream ends at version {head} but its "
                    f"projection folded version {last_version}; events were removed from its end"
                ),
            )
        )
    return breaks


class ChainScan:
    """Feeds rows of the scan, stream after stream, and gathers each stream's first break."""

    def __init__(self) -> None:
        self.streams = 0
        self.events = 0
        self.breaks: list[ChainBreak] = []
        self._stream: str | None = None
        self._state = ChainState()

    def feed(self, row: Row) -> ChainBreak | None:
        stream_id = row[1]
        if stream_id != self._stream:
            self._stream = stream_id
            self._state = ChainState()
            self.streams += 1
        self.events += 1
        found = check_link(self._state, row)
        if found is not None:
            self.breaks.append(found)
        return found


def verify_store(
    conninfo: str,
    stream_id: str | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> VerifyReport:
    """Recompute every chain (of one stream, or all, over ``jobs`` processes) in one REPEATABLE
    READ snapshot, then the projection's cross-check for removed tails:
    ``PostgresEventStore.verify``'s report."""
    streams = events = 0
    breaks: list[ChainBreak] = []
    with store_snapshot(conninfo) as (conn, snapshot):
        total = count_events(conn, stream_id)
        if stream_id is not None or jobs <= 1 or total < PARALLEL_FROM:
            scan = ChainScan()
            for rows in scan_rows(conn, stream_id):
                for row in rows:
                    scan.feed(row)
                if progress is not None:
                    progress(scan.events, scan.events, total)
            scans: Iterator[ChainScan] = iter([scan])
        else:
            scans = map_slices(conninfo, conn, snapshot, _verify_part, jobs)
        for part in scans:
            streams, events = streams + part.streams, events + part.events
            breaks.extend(part.breaks)
            if progress is not None:
                progress(events, events, total)
        tails = truncated_tails(conn, stream_id)
    broken = {item.stream_id: item for item in breaks}
    for item in tails:
        broken.setdefault(item.stream_id, item)
    return VerifyReport(streams, events, tuple(broken[key] for key in sorted(broken)))


def _verify_part(conninfo: str, part: Slice) -> ChainScan:
    """One slice's chains, in a process of its own."""
    scan = ChainScan()
    with in_slice(conninfo, part) as conn:
        for rows in scan_rows(conn, None, part):
            for row in rows:
                scan.feed(row)
    return scan
