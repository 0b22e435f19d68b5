"""Recreating the read models from the log (`rebuild`), and folding what no worker folded.

The worker writes the rows in its own append transaction (see _writer.py), so on a live system
the rows never lag. Two things still fold from the log, through the same typed `evolve`:

- `rebuild` (`sagactl db rebuild`) recreates the rows of every registered saga type from the
  events alone, stream by stream, in one transaction that holds the catch-up checkpoint row;
  `--dry-run` does all of it, reports what would change, and rolls back.
- `PostgresProjector` follows the log's stream marks (positions and versions, never payloads)
  and re-folds only a stream whose row is behind its events: events written by something other
  than a worker, such as `sagactl archive import`. Caught up, a page costs one index read.

Streams of saga types (or versions) the registry does not hold are left as they are: another
deployment sharing the database folds its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby, islice
from typing import Any

import psycopg
import structlog

from event_store import RecordedEvent
from event_store.pg_reads import (
    iter_all_by_stream,
    read_marks,
    read_stream,
    readable_head,
    wait_for_horizon,
)
from event_store.retry import RetryPolicy, retrying
from orchestrator.projections._fold import ReadModelChanges, fold_history
from orchestrator.projections._rows import INSTANCE_FIELDS, TIMER_FIELDS, InstanceRow, TimerRow
from orchestrator.projections._writer import write_changes
from orchestrator.saga import SagaRegistry

__all__ = ["PROJECTOR_NAME", "PostgresProjector", "RebuildReport", "TableChange", "rebuild"]

log = structlog.get_logger(__name__)

# The catch-up projector's row in subscription_checkpoints.
PROJECTOR_NAME = "projections"

_ENSURE_CHECKPOINT = """
INSERT INTO subscription_checkpoints (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING
"""
_LOCK_CHECKPOINT = "SELECT position FROM subscription_checkpoints WHERE name = %s FOR UPDATE"
_MOVE_CHECKPOINT = (
    "UPDATE subscription_checkpoints SET position = %s, updated_at = now() WHERE name = %s"
)
_FOLDED_VERSIONS = "SELECT stream_id, last_version FROM saga_instances WHERE stream_id = ANY(%s)"
_INSTANCE_COLUMNS = ", ".join(INSTANCE_FIELDS)
_TIMER_COLUMNS = ", ".join(TIMER_FIELDS)


def _lock_checkpoint(conn: psycopg.Connection[Any]) -> int:
    conn.execute(_ENSURE_CHECKPOINT, [PROJECTOR_NAME])
    row = conn.execute(_LOCK_CHECKPOINT, [PROJECTOR_NAME]).fetchone()
    return int(row[0]) if row is not None else 0


def _fold_streams(
    changes: ReadModelChanges,
    registry: SagaRegistry,
    streams: Iterator[list[RecordedEvent]],
    folded_streams: set[str] | None = None,
) -> tuple[int, list[str]]:
    """Fold each whole stream of a registered saga type into `changes` (adding its id to
    `folded_streams`); returns (events folded, ids of the streams that could not be)."""
    known = {definition.name for definition in registry.definitions}
    folded = 0
    skipped: list[str] = []
    for events in streams:
        if events[0].stream_type not in known:
            continue
        try:
            fold_history(changes, registry, events)
        except (LookupError, ValueError) as exc:
            # A version this worker does not register, or a history its classes cannot fold:
            # never stall on one stream; its rows stay as they were.
            skipped.append(events[0].stream_id)
            log.warning("stream not folded", stream_id=events[0].stream_id, error=str(exc))
            continue
        folded += len(events)
        if folded_streams is not None:
            folded_streams.add(events[0].stream_id)
    return folded, skipped


class PostgresProjector:
    """Re-folds the streams whose rows lag their events (events no worker wrote). Run one or
    many: the checkpoint row lock makes concurrent projectors take turns.

    Workers keep the rows current themselves, so once caught up the projector looks at the log
    at most every `poll_interval` seconds, however often it is asked: an import can wait that
    long for its rows, and the log is not read a hundred times a second for nothing."""

    def __init__(
        self,
        conninfo: str,
        *,
        registry: SagaRegistry,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._registry = registry
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._next_look = 0.0
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
        """Fold what the next page of the log left behind; returns how many events were folded
        (0 also when it is not yet time to look again)."""
        if time.monotonic() < self._next_look:
            return 0
        looked_at, folded = self._look()
        if looked_at < self._batch_size:
            self._next_look = time.monotonic() + self._poll_interval
        return folded

    def _look(self) -> tuple[int, int]:
        """(events looked at, events folded) of the next page."""
        registry = self._registry

        def attempt() -> tuple[int, int]:
            conn = self._connection()
            try:
                with conn.transaction():
                    marks = read_marks(conn, _lock_checkpoint(conn), self._batch_size)
                    if not marks:
                        return 0, 0
                    heads: dict[str, int] = {}
                    known = {definition.name for definition in registry.definitions}
                    for mark in marks:
                        if mark.stream_type in known:
                            heads[mark.stream_id] = max(heads.get(mark.stream_id, 0), mark.version)
                    rows = conn.execute(_FOLDED_VERSIONS, [sorted(heads)]).fetchall()
                    folded = {stream_id: version for stream_id, version in rows}
                    behind = sorted(s for s, v in heads.items() if folded.get(s, 0) < v)
                    refolded = 0
                    if behind:
                        changes = ReadModelChanges()
                        streams = (read_stream(conn, stream_id) for stream_id in behind)
                        refolded, _ = _fold_streams(changes, registry, streams)
                        write_changes(conn, changes)
                    conn.execute(_MOVE_CHECKPOINT, [marks[-1].position, PROJECTOR_NAME])
                    return len(marks), refolded
            except psycopg.OperationalError:
                self.close()
                raise

        return retrying(self._retry)(attempt)

    def catch_up(self) -> int:
        """Look at the whole log up to now; returns how many events were folded."""
        total = 0
        while True:
            looked_at, folded = self._look()
            total += folded
            if looked_at == 0:
                return total

    def run(self, stop: threading.Event, idle_interval: float = 0.2) -> None:
        while not stop.is_set():
            if self.run_once() == 0:
                stop.wait(max(idle_interval, self._next_look - time.monotonic()))


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
    # Streams of registered saga types that could not be folded (their rows were kept).
    streams_skipped: tuple[str, ...] = ()


def _snapshot(
    conn: psycopg.Connection[Any], table: str, columns: str, width: int
) -> dict[Any, Any]:
    rows = conn.execute(f"SELECT {columns} FROM {table}").fetchall()
    return {tuple(row[:width]) if width > 1 else row[0]: tuple(row) for row in rows}


def _compare(before: dict[Any, Any], after: dict[Any, Any]) -> TableChange:
    return TableChange(
        rows_before=len(before),
        rows_after=len(after),
        added=len(after.keys() - before.keys()),
        removed=len(before.keys() - after.keys()),
        changed=sum(1 for key in after.keys() & before.keys() if after[key] != before[key]),
    )


_EVENT_COUNT = "SELECT count(*) FROM events"
_STREAMS_PER_WRITE = 500


def _restore(
    conn: psycopg.Connection[Any],
    folded: set[str],
    instances: dict[Any, tuple[Any, ...]],
    timers: dict[Any, tuple[Any, ...]],
) -> None:
    """Put back, as they were, the rows of every stream that was not folded (another
    deployment's saga types, or a stream these classes cannot fold)."""
    changes = ReadModelChanges()
    for key, row in instances.items():
        if key not in folded:
            changes.instances[key] = InstanceRow(*row)
    for key, row in timers.items():
        if key[0] not in folded:
            changes.timers[key] = TimerRow(*row)
    write_changes(conn, changes)


def rebuild(
    owner_conninfo: str,
    *,
    registry: SagaRegistry,
    dry_run: bool = False,
    batch_size: int = 1000,
    horizon_timeout: float = 30.0,
    progress: Callable[[int, int, int], None] | None = None,
) -> RebuildReport:
    """Recreate the `saga_instances` and `timers` rows of every saga type `registry` holds
    (`sagactl` passes the SAGA_SAGAS classes) from the events alone, folded by the typed
    `evolve`. With `dry_run`, report the differences and change nothing.

    First waits (up to `horizon_timeout` seconds) until every event committed before the call
    is readable; the checkpoint of the catch-up projector is set to the last readable event,
    so anything a worker commits meanwhile is looked at again.

    `progress(events_read, events_read, events_in_log)` is called each time another
    `batch_size` events were read, and at the end (the log is read stream by stream, in
    stream order, so the count of events is the measure of the share done).
    """
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        horizon_reached = wait_for_horizon(conn, horizon_timeout)
        with conn.transaction() as transaction:
            _lock_checkpoint(conn)
            head = readable_head(conn)
            instances_before = _snapshot(conn, "saga_instances", _INSTANCE_COLUMNS, 1)
            timers_before = _snapshot(conn, "timers", _TIMER_COLUMNS, 2)
            total = 0
            if progress is not None:
                row = conn.execute(_EVENT_COUNT).fetchone()
                total = int(row[0]) if row is not None else 0
            # TRUNCATE, the owner's privilege: workers may maintain rows, never wipe tables.
            conn.execute("TRUNCATE saga_instances, timers")
            read = replayed = reported = 0
            skipped: list[str] = []
            folded_streams: set[str] = set()
            scan = groupby(iter_all_by_stream(conn, batch_size), lambda event: event.stream_id)
            while chunk := [list(group) for _, group in islice(scan, _STREAMS_PER_WRITE)]:
                changes = ReadModelChanges()
                folded, not_folded = _fold_streams(changes, registry, iter(chunk), folded_streams)
                # Written while the scan's cursor stays open in this same transaction, so the
                # rows of a large log never all sit in memory at once.
                write_changes(conn, changes)
                replayed += folded
                skipped += not_folded
                read += sum(len(events) for events in chunk)
                if progress is not None and read // batch_size > reported // batch_size:
                    progress(read, read, max(total, read))
                    reported = read
            if progress is not None and reported != read:
                progress(read, read, max(total, read))
            _restore(conn, folded_streams, instances_before, timers_before)
            conn.execute(_MOVE_CHECKPOINT, [head, PROJECTOR_NAME])
            report = RebuildReport(
                dry_run=dry_run,
                horizon_reached=horizon_reached,
                events_replayed=replayed,
                checkpoint=head,
                saga_instances=_compare(
                    instances_before, _snapshot(conn, "saga_instances", _INSTANCE_COLUMNS, 1)
                ),
                timers=_compare(timers_before, _snapshot(conn, "timers", _TIMER_COLUMNS, 2)),
                streams_skipped=tuple(skipped),
            )
            if dry_run:
                raise psycopg.Rollback(transaction)
    return report
