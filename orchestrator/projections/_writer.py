"""Writing the read models to PostgreSQL, in the transaction that appends their events.

The worker decides a whole batch and appends it in one transaction; it already holds every
saga's typed state before and after each event, so it writes the rows those states give in
that same transaction (`PostgresReadModels`). The rows then never lag the log, and no second
process reads the events back to fold them again (see README, Benchmarks, for what that saved).

Each table takes one statement per batch: every changed row travels in binary arrays through
`unnest`, as the events themselves do (event_store/_pg_sql.py INSERT_SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg

from event_store import BatchAppendResult, StreamAppend
from event_store.postgres import PostgresEventStore
from orchestrator.projections._fold import Fold, ReadModelChanges
from orchestrator.projections._rows import INSTANCE_FIELDS, TIMER_FIELDS

__all__ = ["PostgresReadModels", "ReadModelWriter", "write_changes"]

# A row is only ever replaced by one folded from a later event of its stream
# (`last_version`): a catch-up projector folding an imported stream beside a live worker, or a
# rebuild beside it, cannot move a row backwards. `started_at` is set once, by the insert; a
# command's step is never unset, so a batch that issued none keeps the stored one; a closing
# event does not know when its timer was scheduled, so only a scheduling sets `scheduled_at`
# (timer ids are unique per saga: one is never scheduled twice).
_UPSERT_INSTANCES = """
INSERT INTO saga_instances (stream_id, saga_type, status, status_before_park, current_step,
                            definition_version, business_key, started_at, updated_at,
                            last_version, last_position)
SELECT * FROM unnest(%(stream_id)b::text[], %(saga_type)b::text[], %(status)b::text[],
                     %(status_before_park)b::text[], %(current_step)b::text[],
                     %(definition_version)b::int4[], %(business_key)b::text[],
                     %(started_at)b::timestamptz[], %(updated_at)b::timestamptz[],
                     %(last_version)b::int4[], %(last_position)b::int8[])
ON CONFLICT (stream_id) DO UPDATE SET
    saga_type = excluded.saga_type,
    status = excluded.status,
    status_before_park = excluded.status_before_park,
    current_step = coalesce(excluded.current_step, saga_instances.current_step),
    definition_version = excluded.definition_version,
    business_key = excluded.business_key,
    updated_at = excluded.updated_at,
    last_version = excluded.last_version,
    last_position = excluded.last_position
WHERE saga_instances.last_version < excluded.last_version
"""
_UPSERT_TIMERS = """
INSERT INTO timers (stream_id, timer_id, fire_at, purpose, step, attempt, status, scheduled_at,
                    updated_at, last_version)
SELECT * FROM unnest(%(stream_id)b::text[], %(timer_id)b::text[], %(fire_at)b::timestamptz[],
                     %(purpose)b::text[], %(step)b::text[], %(attempt)b::int4[],
                     %(status)b::text[], %(scheduled_at)b::timestamptz[],
                     %(updated_at)b::timestamptz[], %(last_version)b::int4[])
ON CONFLICT (stream_id, timer_id) DO UPDATE SET
    fire_at = excluded.fire_at,
    purpose = excluded.purpose,
    step = excluded.step,
    attempt = excluded.attempt,
    status = excluded.status,
    scheduled_at = CASE WHEN excluded.status = 'scheduled' THEN excluded.scheduled_at
                        ELSE timers.scheduled_at END,
    updated_at = excluded.updated_at,
    last_version = excluded.last_version
WHERE timers.last_version < excluded.last_version
"""


def _columns(rows: Sequence[object], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [getattr(row, name) for row in rows] for name in names}


def write_changes(conn: psycopg.Connection[Any], changes: ReadModelChanges) -> None:
    """Upsert the changed rows; call inside the transaction they belong to."""
    # Sorted, so two writers touching the same rows lock them in the same order.
    if changes.instances:
        instances = [changes.instances[key] for key in sorted(changes.instances)]
        conn.execute(_UPSERT_INSTANCES, _columns(instances, INSTANCE_FIELDS))
    if changes.timers:
        timers = [changes.timers[key] for key in sorted(changes.timers)]
        conn.execute(_UPSERT_TIMERS, _columns(timers, TIMER_FIELDS))


class ReadModelWriter(Protocol):
    """Appends a batch and keeps the read models in step with it (the worker's port)."""

    def append_batch(
        self, appends: Sequence[StreamAppend], folds: dict[str, list[Fold]]
    ) -> BatchAppendResult:
        """`folds` holds, per stream, each decided event with the state before and after it."""
        ...


class PostgresReadModels:
    """`ReadModelWriter` on the PostgreSQL store: rows written in the append's transaction."""

    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    def append_batch(
        self, appends: Sequence[StreamAppend], folds: dict[str, list[Fold]]
    ) -> BatchAppendResult:
        def write(
            conn: psycopg.Connection[Any], result: BatchAppendResult, recorded_at: datetime
        ) -> None:
            changes = ReadModelChanges()
            changes.apply_appended(result, folds, recorded_at)
            write_changes(conn, changes)

        return self._store.append_batch(appends, in_transaction=write)
