"""The PostgreSQL projections: maintained from events, rebuilt from events alone, identically."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from event_store import NewEvent, RecordedEvent
from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from event_store.projections import (
    PROJECTOR_NAME,
    PostgresProjections,
    PostgresProjector,
    ProjectionState,
    SagaInstance,
    Timer,
    rebuild,
)
from tests.support import ScratchDb

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def saga(store: PostgresEventStore, saga_id: str, *events: NewEvent) -> None:
    store.append(saga_id, "OrderFulfilment", store.stream_version(saga_id), list(events))


def started(key: str) -> NewEvent:
    return NewEvent(
        "SagaStarted",
        {"saga_type": "OrderFulfilment", "definition_version": 2, "business_key": key},
    )


def command(step: str, compensation: bool = False) -> NewEvent:
    return NewEvent("CommandIssued", {"step": step, "attempt": 1, "compensation": compensation})


def timer(timer_id: str, minutes: int) -> NewEvent:
    return NewEvent(
        "TimerScheduled",
        {
            "timer_id": timer_id,
            "fire_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "purpose": "step_timeout",
            "step": "reserve",
            "attempt": 1,
        },
    )


def populate(store: PostgresEventStore) -> None:
    saga(store, "saga-1", started("o-1"), command("reserve"), timer("t1", 5))
    saga(store, "saga-2", started("o-2"), command("reserve"), timer("t2", 1))
    saga(store, "saga-3", started("o-3"), NewEvent("SagaParked", {}))
    saga(store, "saga-1", NewEvent("TimerFired", {"timer_id": "t1"}))
    saga(store, "saga-1", NewEvent("CompensationStarted", {}), command("release", True))
    saga(
        store,
        "saga-2",
        NewEvent("SagaCompleted", {}),
        NewEvent("TimerCancelled", {"timer_id": "t2"}),
    )
    saga(store, "saga-4", started("o-4"), timer("t4", 3), timer("t5", 2), NewEvent("Noted", {}))
    store.append("ledger-1", "Ledger", 0, [NewEvent("Posted", {"amount": 5})])


def table(db: ScratchDb, name: str, order: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(f"SELECT * FROM {name} ORDER BY {order}")]


def contents(db: ScratchDb) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return table(db, "saga_instances", "stream_id"), table(db, "timers", "stream_id, timer_id")


def all_events(store: PostgresEventStore) -> list[RecordedEvent]:
    settled(store)
    result: list[RecordedEvent] = []
    after = 0
    while page := store.read_all(after, 100):
        result.extend(page)
        after = page[-1].position
    return result


def settled(store: PostgresEventStore) -> bool:
    # read_all (and so the projector) withholds events while an older transaction anywhere on
    # the server is open; tests wait for their own writes to clear that horizon.
    assert store.wait_until_readable()
    return True


def caught_up(store: PostgresEventStore, projector: PostgresProjector) -> int:
    settled(store)
    return projector.catch_up()


@pytest.fixture
def store(fresh_db: ScratchDb) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(fresh_db.app) as store:
        yield store


@pytest.fixture
def projector(fresh_db: ScratchDb) -> Iterator[PostgresProjector]:
    with PostgresProjector(fresh_db.app, batch_size=4) as projector:
        yield projector


def test_the_tables_hold_what_the_fold_rules_say(
    fresh_db: ScratchDb, store: PostgresEventStore, projector: PostgresProjector
) -> None:
    populate(store)
    assert caught_up(store, projector) == len(all_events(store))
    expected = ProjectionState()
    expected.apply_all(all_events(store))
    with PostgresProjections(fresh_db.app) as projections:
        instances = {i.stream_id: i for i in projections.saga_instances(limit=100)}
        assert instances == expected.instances
        assert projections.saga_instance("ledger-1") is None
        parked = projections.saga_instance("saga-3")
        assert parked is not None
        assert (parked.status, parked.status_before_park) == ("parked", "started")
        compensating = instances["saga-1"]
        assert (compensating.status, compensating.current_step) == ("compensating", "release")
        assert [i.stream_id for i in projections.saga_instances(status="completed")] == ["saga-2"]
    timers = {(row[0], row[1]): Timer(*row) for row in table(fresh_db, "timers", "1, 2")}
    assert timers == expected.timers


def test_due_timers_for_the_worker(
    fresh_db: ScratchDb, store: PostgresEventStore, projector: PostgresProjector
) -> None:
    populate(store)
    caught_up(store, projector)
    with PostgresProjections(fresh_db.app) as projections:
        due = projections.due_timers(T0 + timedelta(minutes=10), limit=10)
        assert [(t.stream_id, t.timer_id) for t in due] == [("saga-4", "t5"), ("saga-4", "t4")]
        assert due[0].fire_at == T0 + timedelta(minutes=2)
        assert isinstance(due[0], Timer)
        assert projections.due_timers(T0 + timedelta(minutes=2), limit=10)[0].timer_id == "t5"
        assert projections.due_timers(T0, limit=10) == []
        assert len(projections.due_timers(T0 + timedelta(hours=1), limit=1)) == 1


def test_the_projector_is_incremental_and_folds_each_event_once(
    fresh_db: ScratchDb, store: PostgresEventStore, projector: PostgresProjector
) -> None:
    saga(store, "saga-1", started("o-1"))
    assert caught_up(store, projector) == 1
    assert caught_up(store, projector) == 0
    saga(store, "saga-1", command("reserve"))
    assert (settled(store) and projector.run_once()) == 1
    (row,) = table(fresh_db, "saga_instances", "stream_id")
    instance = SagaInstance(*row)
    assert (instance.status, instance.current_step, instance.last_version) == (
        "running",
        "reserve",
        2,
    )
    with PostgresCheckpointStore(fresh_db.app) as checkpoints:
        checkpoint = checkpoints.load(PROJECTOR_NAME)
    assert checkpoint == store.read_stream("saga-1")[-1].position


def test_rebuild_recreates_identical_tables_from_the_events_alone(
    fresh_db: ScratchDb, store: PostgresEventStore, projector: PostgresProjector
) -> None:
    populate(store)
    caught_up(store, projector)
    live = contents(fresh_db)
    assert live[0]
    assert live[1]
    report = rebuild(fresh_db.owner)
    assert not report.dry_run
    assert report.events_replayed == len(all_events(store))
    assert report.saga_instances.identical
    assert report.timers.identical
    assert contents(fresh_db) == live
    # The live projector carries on from where the rebuild left off.
    saga(store, "saga-4", NewEvent("SagaCompleted", {}))
    assert caught_up(store, projector) == 1


def test_a_damaged_projection_is_reported_by_dry_run_and_repaired_by_rebuild(
    fresh_db: ScratchDb, store: PostgresEventStore, projector: PostgresProjector
) -> None:
    populate(store)
    caught_up(store, projector)
    good = contents(fresh_db)
    with psycopg.connect(fresh_db.owner, autocommit=True) as conn:
        conn.execute("UPDATE saga_instances SET status = 'failed' WHERE stream_id = 'saga-1'")
        conn.execute("DELETE FROM timers WHERE timer_id = 't4'")
        conn.execute(
            "INSERT INTO saga_instances SELECT 'ghost', saga_type, status, status_before_park, "
            "current_step, definition_version, business_key, started_at, updated_at, "
            "last_version, last_position FROM saga_instances WHERE stream_id = 'saga-2'"
        )
    damaged = contents(fresh_db)

    dry = rebuild(fresh_db.owner, dry_run=True)
    assert dry.dry_run
    assert (dry.saga_instances.changed, dry.saga_instances.removed) == (1, 1)
    assert dry.timers.added == 1
    assert contents(fresh_db) == damaged

    repaired = rebuild(fresh_db.owner)
    assert not repaired.saga_instances.identical
    assert contents(fresh_db) == good


def test_rebuild_of_an_empty_log(fresh_db: ScratchDb) -> None:
    report = rebuild(fresh_db.owner)
    assert report.events_replayed == 0
    assert report.checkpoint == 0
    assert contents(fresh_db) == ([], [])


def test_the_application_role_cannot_truncate_projections(fresh_db: ScratchDb) -> None:
    # Rebuild is an owner's operation; workers can maintain rows but not wipe tables.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rebuild(fresh_db.app)
