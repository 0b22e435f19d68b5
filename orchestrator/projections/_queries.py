"""Reading the saga read models: the timer poll, `sagactl saga list/stuck`, forensics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

from event_store.retry import RetryPolicy, retrying
from orchestrator.projections._rows import INSTANCE_FIELDS, TIMER_FIELDS, InstanceRow, TimerRow

__all__ = [
    "InstanceFilter",
    "PostgresProjections",
    "due_timers",
    "saga_instance_page",
    "stuck_sagas",
]

T = TypeVar("T")

_INSTANCE_COLUMNS = ", ".join(INSTANCE_FIELDS)
_TIMER_COLUMNS = ", ".join(TIMER_FIELDS)
_DUE_TIMERS = f"""
SELECT {_TIMER_COLUMNS} FROM timers
WHERE status = 'scheduled' AND fire_at <= %s
ORDER BY fire_at, stream_id, timer_id
LIMIT %s
"""


def due_timers(conn: psycopg.Connection[Any], now: datetime, limit: int = 100) -> list[TimerRow]:
    """Scheduled timers whose `fire_at` is at or before `now`, earliest first."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return [TimerRow(*row) for row in conn.execute(_DUE_TIMERS, [now, limit]).fetchall()]


_STUCK_SAGAS = f"""
SELECT {_INSTANCE_COLUMNS} FROM saga_instances
WHERE status IN ('started', 'running', 'compensating') AND updated_at <= %(cutoff)s
ORDER BY updated_at, stream_id
LIMIT %(limit)s
"""


def stuck_sagas(
    conn: psycopg.Connection[Any], older_than: timedelta, now: datetime, limit: int | None = None
) -> list[InstanceRow]:
    """Sagas in an ACTIVE_STATUSES status whose last event is `older_than` or more before
    `now`, the longest silent first: `current_step` is the step they wait on, `updated_at`
    when they last moved. Walks saga_instances_active_idx; reads nothing of the log."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    if limit is not None and limit < 1:
        raise ValueError("limit must be >= 1 (or None for all)")
    rows = conn.execute(_STUCK_SAGAS, {"cutoff": now - older_than, "limit": limit}).fetchall()
    return [InstanceRow(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class InstanceFilter:
    """Which saga_instances rows a listing shows; None means any."""

    saga_type: str | None = None
    status: str | None = None
    updated_since: datetime | None = None  # last event at or after
    updated_until: datetime | None = None  # last event at or before
    # Only sagas in an ACTIVE_STATUSES status whose last event is at or before this instant.
    idle_since: datetime | None = None


def saga_instance_page(
    conn: psycopg.Connection[Any],
    where: InstanceFilter,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[InstanceRow]:
    """One page of saga_instances, most recently updated first, after the (updated_at,
    stream_id) of the previous page's last row: a keyset walk along saga_instances_updated_idx
    (or the status index), so page 1,000 costs what page 1 does; an OFFSET would read and
    drop every row before it."""
    clauses: list[pgsql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    if where.saga_type is not None:
        clauses.append(pgsql.SQL("saga_type = %(saga_type)s"))
        params["saga_type"] = where.saga_type
    if where.status is not None:
        clauses.append(pgsql.SQL("status = %(status)s"))
        params["status"] = where.status
    if where.updated_since is not None:
        clauses.append(pgsql.SQL("updated_at >= %(since)s"))
        params["since"] = where.updated_since
    if where.updated_until is not None:
        clauses.append(pgsql.SQL("updated_at <= %(until)s"))
        params["until"] = where.updated_until
    if where.idle_since is not None:
        clauses.append(
            pgsql.SQL("status IN ('started', 'running', 'compensating') AND updated_at <= %(idle)s")
        )
        params["idle"] = where.idle_since
    if after is not None:
        clauses.append(pgsql.SQL("(updated_at, stream_id) < (%(after_at)s, %(after_id)s)"))
        params["after_at"], params["after_id"] = after
    condition = pgsql.SQL(" AND ").join(clauses) if clauses else pgsql.SQL("true")
    query = pgsql.SQL(
        "SELECT {columns} FROM saga_instances WHERE {condition} "
        "ORDER BY updated_at DESC, stream_id DESC LIMIT %(limit)s"
    ).format(columns=pgsql.SQL(_INSTANCE_COLUMNS), condition=condition)
    return [InstanceRow(*row) for row in conn.execute(query, params).fetchall()]


class PostgresProjections:
    """Reads the projection tables (the worker's timer poll, `sagactl` listings)."""

    def __init__(self, conninfo: str, *, pool_max_size: int = 2) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_max_size,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            name="projections",
            open=True,
        )
        self._retry = RetryPolicy()

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresProjections:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _query(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        def attempt() -> T:
            with self._pool.connection() as conn:
                return work(conn)

        return retrying(self._retry)(attempt)

    def due_timers(self, now: datetime, limit: int = 100) -> list[TimerRow]:
        return self._query(lambda conn: due_timers(conn, now, limit))

    def saga_instance(self, stream_id: str) -> InstanceRow | None:
        def query(conn: psycopg.Connection[Any]) -> InstanceRow | None:
            row = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM saga_instances WHERE stream_id = %s",
                [stream_id],
            ).fetchone()
            return None if row is None else InstanceRow(*row)

        return self._query(query)

    def stuck_sagas(
        self, older_than: timedelta, now: datetime, limit: int | None = None
    ) -> list[InstanceRow]:
        return self._query(lambda conn: stuck_sagas(conn, older_than, now, limit))

    def saga_instance_page(
        self, where: InstanceFilter, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[InstanceRow]:
        return self._query(lambda conn: saga_instance_page(conn, where, after=after, limit=limit))

    def saga_instances(self, *, status: str | None = None, limit: int = 100) -> list[InstanceRow]:
        def query(conn: psycopg.Connection[Any]) -> list[InstanceRow]:
            rows = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM saga_instances "
                "WHERE %(status)s::text IS NULL OR status = %(status)s "
                "ORDER BY updated_at DESC, stream_id LIMIT %(limit)s",
                {"status": status, "limit": limit},
            ).fetchall()
            return [InstanceRow(*row) for row in rows]

        return self._query(query)
