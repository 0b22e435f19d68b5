"""The projections in PostgreSQL: the projector that maintains them, `rebuild`, and the reader.

The projector is a catch-up subscription whose checkpoint lives in the same transaction as the
rows it writes: one transaction locks the checkpoint row, reads the next page of events (the
gap-safe `read_all`), folds them into the affected rows, writes those rows and moves the
checkpoint. Each event is therefore folded exactly once, and a crash loses nothing.

`rebuild` runs the same code from position 0 after truncating the tables, in one transaction
that holds the checkpoint row: a live projector waits for it, then carries on from where the
rebuild stopped. `--dry-run` does all of it, reports what would change, and rolls back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

from event_store import _pg_sql as sql
from event_store._model import RecordedEvent
from event_store._retry import RetryPolicy, retrying
from event_store.projections._fold import ProjectionState, SagaInstance, Timer, timer_keys

__all__ = [
    "ACTIVE_STATUSES",
    "PROJECTOR_NAME",
    "InstanceFilter",
    "PostgresProjections",
    "PostgresProjector",
    "RebuildReport",
    "TableChange",
    "due_timers",
    "events_until",
    "rebuild",
    "saga_instance_page",
    "streams_started_by",
    "stuck_sagas",
]

T = TypeVar("T")

# The projector's row in subscription_checkpoints.
PROJECTOR_NAME = "projections"

_INSTANCE_FIELDS = tuple(f.name for f in fields(SagaInstance))
_TIMER_FIELDS = tuple(f.name for f in fields(Timer))
_INSTANCE_COLUMNS = ", ".join(_INSTANCE_FIELDS)
_TIMER_COLUMNS = ", ".join(_TIMER_FIELDS)


def _row(value: object, names: tuple[str, ...]) -> tuple[object, ...]:
    # Not dataclasses.astuple: that deep-copies every field, and it was a quarter of the
    # projector's CPU. The rows are frozen dataclasses of scalars, so a shallow tuple is safe.
    return tuple(getattr(value, name) for name in names)


def _upsert_sql(table: str, columns: str, key: tuple[str, ...]) -> str:
    names = [name.strip() for name in columns.split(",")]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in key)
    placeholders = ", ".join(["%s"] * len(names))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_UPSERT_INSTANCE = _upsert_sql("saga_instances", _INSTANCE_COLUMNS, ("stream_id",))
_UPSERT_TIMER = _upsert_sql("timers", _TIMER_COLUMNS, ("stream_id", "timer_id"))
_LOAD_INSTANCES = f"SELECT {_INSTANCE_COLUMNS} FROM saga_instances WHERE stream_id = ANY(%s)"
_LOAD_TIMERS = f"""
SELECT {_TIMER_COLUMNS} FROM timers
WHERE (stream_id, timer_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""
_ENSURE_CHECKPOINT = """
INSERT INTO subscription_checkpoints (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING
"""
_LOCK_CHECKPOINT = "SELECT position FROM subscription_checkpoints WHERE name = %s FOR UPDATE"
_MOVE_CHECKPOINT = (
    "UPDATE subscription_checkpoints SET position = %s, updated_at = now() WHERE name = %s"
)
_DUE_TIMERS = f"""
SELECT {_TIMER_COLUMNS} FROM timers
WHERE status = 'scheduled' AND fire_at <= %s
ORDER BY fire_at, stream_id, timer_id
LIMIT %s
"""


def _lock_checkpoint(conn: sql.Connection) -> int:
    conn.execute(_ENSURE_CHECKPOINT, [PROJECTOR_NAME])
    row = conn.execute(_LOCK_CHECKPOINT, [PROJECTOR_NAME]).fetchone()
    return int(row[0]) if row is not None else 0


def _load_state(conn: sql.Connection, events: list[RecordedEvent]) -> ProjectionState:
    streams = sorted({event.stream_id for event in events})
    keys = sorted({key for event in events for key in timer_keys(event)})
    state = ProjectionState()
    for row in conn.execute(_LOAD_INSTANCES, [streams]).fetchall():
        instance = SagaInstance(*row)
        state.instances[instance.stream_id] = instance
    if keys:
        stream_ids, timer_ids = [k[0] for k in keys], [k[1] for k in keys]
        for row in conn.execute(_LOAD_TIMERS, [stream_ids, timer_ids]).fetchall():
            timer = Timer(*row)
            state.timers[(timer.stream_id, timer.timer_id)] = timer
    return state


def _write_state(conn: sql.Connection, state: ProjectionState) -> None:
    # Sorted, so two writers touching the same rows lock them in the same order.
    instances = [
        _row(state.instances[key], _INSTANCE_FIELDS) for key in sorted(state.changed_instances)
    ]
    timers = [_row(state.timers[key], _TIMER_FIELDS) for key in sorted(state.changed_timers)]
    with conn.cursor() as cursor:
        if instances:
            cursor.executemany(_UPSERT_INSTANCE, instances)
        if timers:
            cursor.executemany(_UPSERT_TIMER, timers)


def _project_page(conn: sql.Connection, after: int, limit: int) -> list[RecordedEvent]:
    """Fold the next page after `after` into the tables; call inside a transaction."""
    events = sql.read_all(conn, after, limit)
    if events:
        state = _load_state(conn, events)
        state.apply_all(events)
        _write_state(conn, state)
        conn.execute(_MOVE_CHECKPOINT, [events[-1].position, PROJECTOR_NAME])
    return events


class PostgresProjector:
    """Keeps `saga_instances` and `timers` up to date with the log. Run one or many: the
    checkpoint row lock makes concurrent projectors take turns."""

    def __init__(
        self, conninfo: str, *, batch_size: int = 1000, retry: RetryPolicy | None = None
    ) -> None:
        self._conninfo = conninfo
        self._batch_size = batch_size
        self._retry = retry or RetryPolicy()
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self._conninfo, autocommit=True, application_name="saga-projector"
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> PostgresProjector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_once(self) -> int:
        """Project the next page of events; returns how many were folded (0: caught up)."""

        def attempt() -> int:
            conn = self._connection()
            try:
                with conn.transaction():
                    after = _lock_checkpoint(conn)
                    return len(_project_page(conn, after, self._batch_size))
            except psycopg.OperationalError:
                self.close()
                raise

        return retrying(self._retry)(attempt)

    def catch_up(self) -> int:
        total = 0
        while folded := self.run_once():
            total += folded
        return total

    def run(self, stop: threading.Event, idle_interval: float = 0.2) -> None:
        while not stop.is_set():
            if self.run_once() == 0:
                stop.wait(idle_interval)


@dataclass(frozen=True, slots=True)
class TableChange:
    rows_before: int
    rows_after: int
    added: int
    removed: int
    changed: int

    @property
    def identical(self) -> bool:
        return self.added == self.removed == self.changed == 0


@dataclass(frozen=True, slots=True)
class RebuildReport:
    dry_run: bool
    # False when a long transaction elsewhere kept recent events out of reach (see rebuild).
    horizon_reached: bool
    events_replayed: int
    checkpoint: int
    saga_instances: TableChange
    timers: TableChange


def _snapshot(
    conn: sql.Connection, table: str, columns: str, key: Callable[[tuple[Any, ...]], Any]
) -> dict[Any, tuple[Any, ...]]:
    rows = conn.execute(f"SELECT {columns} FROM {table}").fetchall()
    return {key(row): tuple(row) for row in rows}


def _compare(before: dict[Any, Any], after: dict[Any, Any]) -> TableChange:
    return TableChange(
        rows_before=len(before),
        rows_after=len(after),
        added=len(after.keys() - before.keys()),
        removed=len(before.keys() - after.keys()),
        changed=sum(1 for key in after.keys() & before.keys() if after[key] != before[key]),
    )


def _last_position(conn: sql.Connection) -> int:
    # The primary key's last entry: one index probe, unlike count(*).
    row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return int(row[0]) if row is not None else 0


def rebuild(
    owner_conninfo: str,
    *,
    dry_run: bool = False,
    batch_size: int = 1000,
    horizon_timeout: float = 30.0,
    progress: Callable[[int, int, int], None] | None = None,
) -> RebuildReport:
    """Recreate `saga_instances` and `timers` from the events alone (as the owner role, which
    may TRUNCATE). With `dry_run`, report the differences and change nothing.

    First waits (up to `horizon_timeout` seconds) until every event committed before the call
    is readable by the gap-safe read_all; if a long transaction elsewhere on the server holds
    the horizon back longer, the rebuild stops at the horizon (`horizon_reached` is False) and
    the live projector folds the rest later.

    `progress(events_replayed, position, last_position)` is called after each page; the
    log's highest position when the rebuild began is `last_position` (positions have gaps, so
    position / last_position is an estimate of the share done).
    """

    def instance_key(row: tuple[Any, ...]) -> Any:
        return row[0]

    def timer_key_of(row: tuple[Any, ...]) -> Any:
        return (row[0], row[1])

    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        horizon_reached = sql.wait_for_horizon(conn, horizon_timeout)
        with conn.transaction() as transaction:
            _lock_checkpoint(conn)
            instances_before = _snapshot(conn, "saga_instances", _INSTANCE_COLUMNS, instance_key)
            timers_before = _snapshot(conn, "timers", _TIMER_COLUMNS, timer_key_of)
            conn.execute("TRUNCATE saga_instances, timers")
            replayed = 0
            position = 0
            last_position = _last_position(conn) if progress is not None else 0
            while events := _project_page(conn, position, batch_size):
                replayed += len(events)
                position = events[-1].position
                if progress is not None:
                    progress(replayed, position, max(last_position, position))
            # An empty log leaves the checkpoint where the page loop never moved it.
            conn.execute(_MOVE_CHECKPOINT, [position, PROJECTOR_NAME])
            report = RebuildReport(
                dry_run=dry_run,
                horizon_reached=horizon_reached,
                events_replayed=replayed,
                checkpoint=position,
                saga_instances=_compare(
                    instances_before,
                    _snapshot(conn, "saga_instances", _INSTANCE_COLUMNS, instance_key),
                ),
                timers=_compare(
                    timers_before, _snapshot(conn, "timers", _TIMER_COLUMNS, timer_key_of)
                ),
            )
            if dry_run:
                raise psycopg.Rollback(transaction)
    return report


def due_timers(conn: psycopg.Connection[Any], now: datetime, limit: int = 100) -> list[Timer]:
    """Scheduled timers whose `fire_at` is at or before `now`, earliest first."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return [Timer(*row) for row in conn.execute(_DUE_TIMERS, [now, limit]).fetchall()]


# The statuses of a saga that is still moving on its own: one with no event for long is stuck.
# (Parked sagas wait on a dead letter, failed ones on an operator: both are listed elsewhere.)
# saga_instances_active_idx (migration 051) is partial on exactly these.
ACTIVE_STATUSES = ("started", "running", "compensating")

_STUCK_SAGAS = f"""
SELECT {_INSTANCE_COLUMNS} FROM saga_instances
WHERE status IN ('started', 'running', 'compensating') AND updated_at <= %(cutoff)s
ORDER BY updated_at, stream_id
LIMIT %(limit)s
"""


def stuck_sagas(
    conn: psycopg.Connection[Any], older_than: timedelta, now: datetime, limit: int | None = None
) -> list[SagaInstance]:
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
    return [SagaInstance(*row) for row in rows]


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
) -> list[SagaInstance]:
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
    return [SagaInstance(*row) for row in conn.execute(query, params).fetchall()]


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

    def due_timers(self, now: datetime, limit: int = 100) -> list[Timer]:
        return self._query(lambda conn: due_timers(conn, now, limit))

    def saga_instance(self, stream_id: str) -> SagaInstance | None:
        def query(conn: psycopg.Connection[Any]) -> SagaInstance | None:
            row = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM saga_instances WHERE stream_id = %s",
                [stream_id],
            ).fetchone()
            return None if row is None else SagaInstance(*row)

        return self._query(query)

    def stuck_sagas(
        self, older_than: timedelta, now: datetime, limit: int | None = None
    ) -> list[SagaInstance]:
        return self._query(lambda conn: stuck_sagas(conn, older_than, now, limit))

    def saga_instance_page(
        self, where: InstanceFilter, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SagaInstance]:
        return self._query(lambda conn: saga_instance_page(conn, where, after=after, limit=limit))

    def saga_instances(self, *, status: str | None = None, limit: int = 100) -> list[SagaInstance]:
        def query(conn: psycopg.Connection[Any]) -> list[SagaInstance]:
            rows = conn.execute(
                f"SELECT {_INSTANCE_COLUMNS} FROM saga_instances "
                "WHERE %(status)s::text IS NULL OR status = %(status)s "
                "ORDER BY updated_at DESC, stream_id LIMIT %(limit)s",
                {"status": status, "limit": limit},
            ).fetchall()
            return [SagaInstance(*row) for row in rows]

        return self._query(query)
