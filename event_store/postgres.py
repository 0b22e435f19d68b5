"""The PostgreSQL event store (psycopg 3, synchronous, pooled connections).

Appends are optimistic: one statement reads every stream's head, Python checks versions and
seals the hash chain, one statement inserts all rows, one COMMIT makes the batch durable. The
unique (stream_id, version) key is the arbiter when two writers race for the same stream: the
loser's transaction is rolled back and re-run, and then reports that stream as a conflict.

Transient failures (lost connection, server shutdown, serialization failure, deadlock) are
retried with jittered exponential backoff. The ambiguous case, a connection lost after COMMIT
was sent, needs no special handling when the append carries a message id: if the COMMIT had
landed, the retry finds the message id recorded and returns the earlier result
(`deduplicated=True`) instead of writing the events twice or reporting a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from event_store import _pg_sql as sql
from event_store._canonical import GENESIS_HASH
from event_store._model import (
    AppendResult,
    BatchAppendResult,
    ConcurrencyError,
    EventStoreError,
    InvalidEventError,
    NewEvent,
    RecordedEvent,
    StreamAppend,
)
from event_store._pool_check import IdleCheck
from event_store._prepare import PreparedAppend, prepare_batch, validate_stream_id
from event_store._reads import (
    MAX_VERSION,
    check_read_all_args,
    check_stream_range,
    check_timestamp,
)
from event_store.retry import RetryPolicy, retrying
from event_store.verify import ChainBreak, VerifyReport, verify_events

__all__ = ["InTransaction", "PostgresCheckpointStore", "PostgresEventStore"]

T = TypeVar("T")

# Work done in an append's own transaction, after its events are inserted and before COMMIT:
# given the connection, what was appended, and the `recorded_at` every event of it carries.
# What it writes commits, or rolls back, with the events (a read model kept in step with the
# log); it runs again if the transaction is re-run after a lost race.
InTransaction = Callable[[sql.Connection, BatchAppendResult, datetime], None]


class PostgresEventStore:
    """`EventStore` on the `events` table created by `event_store.migrations`.

    `conninfo` should name the application role (INSERT and SELECT on events only).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        max_payload_bytes: int = 1_048_576,
        pool_min_size: int = 1,
        pool_max_size: int = 4,
        pool_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._max_payload_bytes = max_payload_bytes
        self._retry = retry or RetryPolicy()
        # (position, its transaction id) where the last read_type said to resume.
        self._resume_tx: tuple[int, str] | None = None
        options: dict[str, Any] = {"autocommit": True}
        if "application_name" not in conninfo_to_dict(conninfo):
            # Names the store's sessions in pg_stat_activity for the SRE looking at them.
            options["application_name"] = "saga-event-store"
        idle = IdleCheck()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=pool_min_size,
            max_size=pool_max_size,
            timeout=pool_timeout,
            kwargs=options,
            # A connection idle across a server restart is dead; find out before using it
            # (only after it was idle: see _pool_check).
            check=idle.check,
            name="event-store",
            open=True,
        )

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _with_connection(self, work: Callable[[sql.Connection], T]) -> T:
        def attempt() -> T:
            with self._pool.connection() as conn:
                return work(conn)

        return retrying(self._retry)(attempt)

    # -- appending ---------------------------------------------------------------------------

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

    def append_batch(
        self, appends: Sequence[StreamAppend], *, in_transaction: InTransaction | None = None
    ) -> BatchAppendResult:
        prepared = prepare_batch(appends, self._max_payload_bytes)
        if not prepared:
            return BatchAppendResult({}, {})
        prepared.sort(key=lambda item: item.stream_id)
        return self._with_connection(
            lambda conn: _append_resolving_races(conn, prepared, in_transaction)
        )

    # -- reading -----------------------------------------------------------------------------

    def read_stream(
        self, stream_id: str, from_version: int = 1, to_version: int | None = None
    ) -> list[RecordedEvent]:
        validate_stream_id(stream_id)
        check_stream_range(from_version, to_version)
        params = {
            "stream_id": stream_id,
            "from_version": from_version,
            "to_version": MAX_VERSION if to_version is None else min(to_version, MAX_VERSION),
        }
        return self._with_connection(
            lambda conn: [
                sql.recorded_event(row)
                for row in conn.execute(sql.READ_STREAM_SQL, params, binary=True).fetchall()
            ]
        )

    def read_stream_until(self, stream_id: str, recorded_before: datetime) -> list[RecordedEvent]:
        validate_stream_id(stream_id)
        check_timestamp(recorded_before)
        params = {"stream_id": stream_id, "before": recorded_before}
        return self._with_connection(
            lambda conn: [
                sql.recorded_event(row)
                for row in conn.execute(sql.READ_STREAM_UNTIL_SQL, params, binary=True).fetchall()
            ]
        )

    def stream_version(self, stream_id: str) -> int:
        validate_stream_id(stream_id)

        def query(conn: sql.Connection) -> int:
            row = conn.execute(sql.STREAM_VERSION_SQL, [stream_id]).fetchone()
            return int(row[0]) if row is not None else 0

        return self._with_connection(query)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        check_read_all_args(after_position, limit)
        return self._with_connection(lambda conn: sql.read_all(conn, after_position, limit))

    def read_type(
        self, after_position: int, event_types: Sequence[str], limit: int = 1000
    ) -> tuple[list[RecordedEvent], int]:
        """Only events of `event_types`, gap-safe like read_all, and the position to resume
        from (see `_pg_sql.read_type`): what the outbox relay tails."""
        check_read_all_args(after_position, limit)

        def read(conn: sql.Connection) -> tuple[list[RecordedEvent], int]:
            known = self._resume_tx
            after_tx = known[1] if known is not None and known[0] == after_position else None
            events, resume, resume_tx = sql.read_type(
                conn, after_position, event_types, limit, after_tx
            )
            # A tailing reader resumes from here next: its transaction is a fact that never
            # changes, so its next call skips the lookup (a round trip per outbox poll).
            self._resume_tx = (resume, resume_tx)
            return events, resume

        return self._with_connection(read)

    def wait_until_readable(self, timeout: float = 30.0) -> bool:
        """Wait until read_all can return every event committed before this call.

        read_all withholds events while any older transaction on the server is still open (that
        is what makes it gap-safe); a tool or test that must read its own writes back through
        read_all waits here first. False if the wait timed out.
        """
        return self._with_connection(lambda conn: sql.wait_for_horizon(conn, timeout))

    # -- verifying ---------------------------------------------------------------------------

    def verify(self, stream_id: str | None = None) -> VerifyReport:
        """Recompute hash chains: of one stream, or of every stream (streamed, not loaded)."""
        if stream_id is not None:
            validate_stream_id(stream_id)

        def check(conn: sql.Connection) -> VerifyReport:
            with conn.transaction():
                if stream_id is None:
                    report = verify_events(sql.iter_all_by_stream(conn))
                else:
                    rows = conn.execute(
                        sql.READ_STREAM_SQL,
                        {"stream_id": stream_id, "from_version": 1, "to_version": MAX_VERSION},
                        binary=True,
                    ).fetchall()
                    report = verify_events(sql.recorded_event(row) for row in rows)
                tails = _truncated_tails(conn, stream_id)
            if not tails:
                return report
            broken = {item.stream_id: item for item in report.breaks}
            for item in tails:
                broken.setdefault(item.stream_id, item)
            return VerifyReport(
                streams_checked=report.streams_checked,
                events_checked=report.events_checked,
                breaks=tuple(broken[key] for key in sorted(broken)),
            )

        return self._with_connection(check)


def _truncated_tails(conn: sql.Connection, stream_id: str | None) -> list[ChainBreak]:
    rows = conn.execute(sql.TRUNCATED_TAILS_SQL, {"stream_id": stream_id}).fetchall()
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


def _append_resolving_races(
    conn: sql.Connection, prepared: list[PreparedAppend], in_transaction: InTransaction | None
) -> BatchAppendResult:
    # Each lost race turns one stream into a reported conflict on the next attempt, so a batch
    # can lose at most one race per stream before it commits.
    attempts = len(prepared) + 1
    for _ in range(attempts):
        try:
            return _append_transaction(conn, prepared, in_transaction)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "events_stream_version_key":
                raise
            # Another writer appended to one of these streams after our head check. The
            # rollback undid the whole batch; the next attempt sees that writer's events and
            # reports the stream as a conflict, or as a duplicate when it was the same message.
    raise EventStoreError(
        f"gave up after {attempts} races with concurrent writers on streams "
        f"{[item.stream_id for item in prepared][:10]}"
    )


def _append_transaction(
    conn: sql.Connection, prepared: list[PreparedAppend], in_transaction: InTransaction | None
) -> BatchAppendResult:
    appended: dict[str, AppendResult] = {}
    conflicts: dict[str, ConcurrencyError] = {}
    with conn.transaction():
        heads = conn.execute(
            sql.HEADS_SQL,
            {
                "streams": [item.stream_id for item in prepared],
                "message_ids": [item.message_id for item in prepared],
            },
        ).fetchall()
        by_stream = {row[0]: row for row in heads}
        recorded_at: datetime = heads[0][7]
        columns: dict[str, list[Any]] = {
            key: []
            for key in (
                "stream_ids",
                "stream_types",
                "versions",
                "event_types",
                "schema_versions",
                "data",
                "metadata",
                "hashes",
            )
        }
        accepted: list[PreparedAppend] = []
        for item in prepared:
            _, head_version, head_hash, head_type, first, last, positions, _ = by_stream[
                item.stream_id
            ]
            if first is not None:
                appended[item.stream_id] = AppendResult(
                    item.stream_id, first, last, tuple(positions), deduplicated=True
                )
                continue
            if head_type is not None and head_type != item.stream_type:
                raise InvalidEventError(
                    f"stream {item.stream_id!r} is of type {head_type!r}, not {item.stream_type!r}"
                )
            current = head_version or 0
            if current != item.expected_version:
                conflicts[item.stream_id] = ConcurrencyError(
                    item.stream_id, item.expected_version, current
                )
                continue
            accepted.append(item)
            for version, event, hash_ in item.sealed(head_hash or GENESIS_HASH, recorded_at):
                columns["stream_ids"].append(item.stream_id)
                columns["stream_types"].append(item.stream_type)
                columns["versions"].append(version)
                columns["event_types"].append(event.event_type)
                columns["schema_versions"].append(event.schema_version)
                columns["data"].append(event.data_json)
                columns["metadata"].append(event.metadata_json)
                columns["hashes"].append(hash_)
        if accepted:
            inserted = conn.execute(
                sql.INSERT_SQL, {**columns, "recorded_at": recorded_at}
            ).fetchall()
            position_of = {(stream, version): position for position, stream, version in inserted}
            for item in accepted:
                first_version = item.expected_version + 1
                last_version = item.expected_version + len(item.events)
                appended[item.stream_id] = AppendResult(
                    stream_id=item.stream_id,
                    first_version=first_version,
                    last_version=last_version,
                    positions=tuple(
                        position_of[(item.stream_id, version)]
                        for version in range(first_version, last_version + 1)
                    ),
                )
        result = BatchAppendResult(appended, conflicts)
        if in_transaction is not None:
            in_transaction(conn, result, recorded_at)
    return result


LOAD_CHECKPOINT_SQL = "SELECT position FROM subscription_checkpoints WHERE name = %s"
SAVE_CHECKPOINT_SQL = """
INSERT INTO subscription_checkpoints (name, position, updated_at) VALUES (%s, %s, now())
ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
"""


class PostgresCheckpointStore:
    """Checkpoints in the `subscription_checkpoints` table, over one pooled connection.

    The subscription saves after every page, so the connection is kept (and checked, and
    replaced when it broke) rather than opened per call.
    """

    def __init__(self, conninfo: str, *, retry: RetryPolicy | None = None) -> None:
        self._retry = retry or RetryPolicy()
        idle = IdleCheck()
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=1,
            kwargs={"autocommit": True},
            check=idle.check,
            name="checkpoints",
            open=True,
        )

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresCheckpointStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, work: Callable[[sql.Connection], T]) -> T:
        def attempt() -> T:
            with self._pool.connection() as conn:
                return work(conn)

        return retrying(self._retry)(attempt)

    def load(self, name: str) -> int:
        def query(conn: sql.Connection) -> int:
            row = conn.execute(LOAD_CHECKPOINT_SQL, [name]).fetchone()
            return int(row[0]) if row is not None else 0

        return self._run(query)

    def save(self, name: str, position: int) -> None:
        self._run(lambda conn: conn.execute(SAVE_CHECKPOINT_SQL, [name, position]))
