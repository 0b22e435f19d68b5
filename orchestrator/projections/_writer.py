"""Writing the read models to PostgreSQL, in the transaction that appends their events.

The worker decides a whole batch and appends it in one transaction; it already holds every
saga's typed state before and after each event, so it writes the rows those states give in
that same transaction (`PostgresReadModels`). The rows then never lag the log, and no second
process reads the events back to fold them again (see README, Benchmarks, for what that saved).

Both tables take one statement per batch: every changed row travels in binary arrays through
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
_INSTANCES = """
INSERT INTO saga_instances (stream_id, saga_type, status, status_before_park, current_step,
                            definition_version, business_key, started_at, updated_at,
                            last_version, last_position)
SELECT * FROM unnest(%(i_stream_id)b::text[], %(i_saga_type)b::text[], %(i_status)b::text[],
                     %(i_status_before_park)b::text[], %(i_current_step)b::text[],
                     %(i_definition_version)b::int4[], %(i_business_key)b::text[],
                     %(i_started_at)b::timestamptz[], %(i_updated_at)b::timestamptz[],
                     %(i_last_version)b::int4[], %(i_last_position)b::int8[])
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
_TIMERS = """
INSERT INTO timers (stream_id, timer_id, fire_at, purpose, step, attempt, status, scheduled_at,
                    updated_at, last_version)
SELECT * FROM unnest(%(t_stream_id)b::text[], %(t_timer_id)b::text[],
                     %(t_fire_at)b::timestamptz[], %(t_purpose)b::text[], %(t_step)b::text[],
                     %(t_attempt)b::int4[], %(t_status)b::text[],
                     %(t_scheduled_at)b::timestamptz[], %(t_updated_at)b::timestamptz[],
                     %(t_last_version)b::int4[])
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
# Both tables in one statement (one round trip per batch): the instances' upsert as a
# data-modifying CTE, which PostgreSQL runs to completion whether or not anything reads it.
_UPSERT_BOTH = f"WITH instances AS ({_INSTANCES.strip()})\n{_TIMERS.strip()}"


def _columns(rows: Sequence[object], names: Sequence[str], prefix: str) -> dict[str, list[Any]]:
    return {prefix + name: [getattr(row, name) for row in rows] for name in names}


def write_changes(conn: psycopg.Connection[Any], changes: ReadModelChanges) -> None:
    """Upsert the changed rows; call inside the transaction they belong to."""
    # Sorted, so two writers touching the same rows lock them in the same order.
    instances = [changes.instances[key] for key in sorted(changes.instances)]
    timers = [changes.timers[key] for key in sorted(changes.timers)]
    if instances and timers:
        params = _columns(instances, INSTANCE_FIELDS, "i_")
        params.update(_columns(timers, TIMER_FIELDS, "t_"))
        conn.execute(_UPSERT_BOTH, params)
    elif instances:
        conn.execute(_INSTANCES, _columns(instances, INSTANCE_FIELDS, "i_"))
    elif timers:
        conn.execute(_TIMERS, _columns(timers, TIMER_FIELDS, "t_"))


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
