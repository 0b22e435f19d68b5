"""The PostgreSQL adapters of the runtime's ports: the due timers of the `timers` read model,
the outbox backlog, the leader lease. (The event store, its command log and checkpoints are
`event_store.postgres`.)"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.conninfo import make_conninfo

from event_store import EventStore, advisory_locks
from event_store.projections import due_timers
from orchestrator.runtime._ports import BACKLOG_CAP, DueTimer
from orchestrator.runtime._stream_types import StreamTypes

RELAY_LEADER_CLASS: Final = advisory_locks.OUTBOX_RELAY_LEADER_CLASS


class _Connection:
    """One autocommit connection, opened on first use and again after it was lost."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None

    def get(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class PostgresTimers:
    """Due timers by the read model's own query (`event_store.projections.due_timers`), with
    each timer's saga type from its stream in `store`.

    The query does not filter by saga type: when several deployments share a database, the
    other deployments' due timers are read and skipped (they fire them themselves)."""

    def __init__(self, conninfo: str, store: EventStore) -> None:
        self._conn = _Connection(conninfo)
        self._types = StreamTypes(store)

    def due(self, now: datetime, saga_types: Sequence[str], limit: int) -> list[DueTimer]:
        conn = self._conn.get()
        try:
            rows = due_timers(conn, now, limit)
        except psycopg.OperationalError:
            self._conn.close()
            raise
        return self._types.due_of(rows, saga_types)

    def close(self) -> None:
        self._conn.close()


# The relay reads the log in (tx_id, position) order, so "not passed yet" is counted the same
# way (a plain position comparison would miscount events of late-committing transactions).
# Two statements, each an index range scan: the first version joined the checkpoint into the
# count with an OR, and PostgreSQL answered it by scanning the whole log every second.
BACKLOG_PASSED_SQL = """
SELECT done.tx_id::text, done.position FROM subscription_checkpoints c
JOIN events done ON done.position = c.position
WHERE c.name = %s
"""
BACKLOG_AFTER_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM events WHERE (tx_id, position) > (%s::xid8, %s) LIMIT %s
) AS backlog
"""
BACKLOG_ALL_SQL = "SELECT count(*) FROM (SELECT 1 FROM events LIMIT %s) AS backlog"


class PostgresOutboxBacklog:
    """How many committed events the outbox relay has not passed yet (the gauge an SRE watches
    when commands seem slow: it grows while the relay is stalled or down), up to `cap`."""

    def __init__(self, conninfo: str, subscription: str, *, cap: int = BACKLOG_CAP) -> None:
        self._conn = _Connection(conninfo)
        self._subscription = subscription
        self._cap = cap

    def backlog(self) -> int:
        conn = self._conn.get()
        try:
            passed = conn.execute(BACKLOG_PASSED_SQL, (self._subscription,)).fetchone()
            if passed is None:
                row = conn.execute(BACKLOG_ALL_SQL, (self._cap,)).fetchone()
            else:
                tx_id, position = passed
                row = conn.execute(BACKLOG_AFTER_SQL, (tx_id, position, self._cap)).fetchone()
        except psycopg.OperationalError:
            self._conn.close()
            raise
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._conn.close()


# A leader whose machine vanished keeps its session, and so its lock, until the server notices
# the dead connection: keepalives bound that to about half a minute instead of TCP's ~2 hours.
_KEEPALIVES: dict[str, str | int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
}


class PostgresLeaderLease:
    """Session advisory lock on a dedicated connection: held while the connection lives, so a
    crashed leader's lease ends with its connection and another worker takes over. One lease
    per consumer group (two-key lock: class, hash of the group).

    A held lease is confirmed (its connection pinged) at most every `confirm_every_s`, not on
    every relay poll: a busy relay polls hundreds of times a second. A leader that lost its
    connection may so publish for up to that long beside the new one; the duplicates carry
    the commands' own message ids, which participants deduplicate on.
    """

    def __init__(self, conninfo: str, consumer_group: str, *, confirm_every_s: float = 1.0) -> None:
        self._conninfo = conninfo
        self._group = consumer_group
        self._confirm_every_s = confirm_every_s
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._confirmed_at = 0.0

    @property
    def consumer_group(self) -> str:
        return self._group

    def holds(self) -> bool:
        try:
            now = time.monotonic()
            if self._held and now - self._confirmed_at < self._confirm_every_s:
                return True
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    make_conninfo(
                        self._conninfo,
                        connect_timeout=10,
                        application_name="saga-relay-lease",
                        **_KEEPALIVES,
                    ),
                    autocommit=True,
                )
                self._held = False
            if self._held:
                self._conn.execute("SELECT 1")  # still alive: the lock lives with the session
                self._confirmed_at = now
                return True
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                (RELAY_LEADER_CLASS, self._group),
            ).fetchone()
            self._held = bool(row and row[0])
            self._confirmed_at = now
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
            self._held = False
        return self._held

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()  # closing the session releases the lock
        self._held = False
