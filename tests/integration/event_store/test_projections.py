"""The saga read models in PostgreSQL: written by the worker's batch transaction, rebuilt from
the events alone (identically), and folded by the catch-up projector for events no worker
wrote. All through the typed fold (orchestrator.projections)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from event_store.postgres import PostgresEventStore
from orchestrator.kafka import ConsumedRecord
from orchestrator.messages import Message
from orchestrator.projections import (
    PostgresProjections,
    PostgresProjector,
    PostgresReadModels,
    rebuild,
)
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._processor import Inbound, SagaProcessor
from orchestrator.saga import Envelope, MessageDeadLettered, SagaRegistry, saga_id_for
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import CreditReserved, PlaceOrder
from tests.support import ScratchDb

REGISTRY = SagaRegistry([OrderFulfilment])
_offsets = itertools.count()


def clock() -> datetime:
    return datetime.now(UTC)


def inbound(saga_id: str, message: Message, message_id: str, **routing: Any) -> Inbound:
    topic = OrderFulfilment.start_topic if isinstance(message, PlaceOrder) else "replies"
    record = ConsumedRecord(topic, 0, next(_offsets), saga_id.encode(), b"", [], -1)
    envelope = Envelope(message, message_id, saga_id, **routing)
    return Inbound(record, envelope, is_start=isinstance(message, PlaceOrder))


def order(order_id: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=order_id, customer_id="c", sku="s", quantity=1, amount_cents=1, address="a"
    )


def run_sagas(processor: SagaProcessor, orders: list[str]) -> list[str]:
    """Start the orders; the first gets its credit reply, the second is parked."""
    ids = [saga_id_for("order_fulfilment", order_id) for order_id in orders]
    processor.process(
        [
            inbound(saga_id, order(order_id), f"start-{order_id}")
            for saga_id, order_id in zip(ids, orders, strict=True)
        ]
    )
    credit = CreditReserved(order_id=orders[0], reservation_id="r")
    park = MessageDeadLettered(saga_id=ids[1], topic="t", partition=0, offset=3, reason="x")
    processor.process(
        [
            inbound(ids[0], credit, "credit-1", step="reserve_credit", attempt=1),
            inbound(ids[1], park, "park-1"),
        ]
    )
    return ids


def table(db: ScratchDb, name: str, order_by: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(f"SELECT * FROM {name} ORDER BY {order_by}")]


def contents(db: ScratchDb) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return table(db, "saga_instances", "stream_id"), table(db, "timers", "stream_id, timer_id")


@pytest.fixture
def store(fresh_db: ScratchDb) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(fresh_db.app) as store:
        yield store


def worker(store: PostgresEventStore, *, read_models: bool = True) -> SagaProcessor:
    writer = PostgresReadModels(store) if read_models else None
    return SagaProcessor(REGISTRY, store, StateCache(100), clock, read_models=writer)


def test_the_worker_writes_the_rows_in_its_batch_transaction(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    running, parked = run_sagas(worker(store), ["o-1", "o-2"])
    with PostgresProjections(fresh_db.app) as projections:
        first = projections.saga_instance(running)
        second = projections.saga_instance(parked)
        assert first is not None
        assert second is not None
        assert (first.status, first.current_step) == ("running", "reserve_inventory")
        assert (second.status, second.status_before_park) == ("parked", "running")
        assert first.last_version == len(store.read_stream(running))
        due = projections.due_timers(datetime.now(UTC) + timedelta(days=1))
    state = REGISTRY.replay(store.read_stream(running))
    assert state is not None
    assert {t.timer_id for t in due if t.stream_id == running} == set(state.timers)
    # Nothing to add: the rows are exactly what the events alone give.
    report = rebuild(fresh_db.owner, registry=REGISTRY, dry_run=True)
    assert report.saga_instances.identical
    assert report.timers.identical
    assert report.saga_instances.rows_after == 2


def test_rebuild_repairs_a_damaged_table_and_keeps_other_deployments_rows(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    run_sagas(worker(store), ["o-1", "o-2"])
    good = contents(fresh_db)
    with psycopg.connect(fresh_db.owner, autocommit=True) as conn:
        conn.execute("UPDATE saga_instances SET status = 'failed'")
        conn.execute("DELETE FROM timers WHERE status = 'scheduled'")
        conn.execute(
            "INSERT INTO saga_instances SELECT 'other-1', 'SomeoneElses', 'running', NULL, NULL, "
            "1, 'k', now(), now(), 1, 1"
        )
    damaged = contents(fresh_db)
    dry = rebuild(fresh_db.owner, registry=REGISTRY, dry_run=True)
    assert dry.saga_instances.changed == 2
    assert dry.timers.added > 0
    assert contents(fresh_db) == damaged
    rebuild(fresh_db.owner, registry=REGISTRY)
    instances, timers = contents(fresh_db)
    assert [row for row in instances if row[0] != "other-1"] == good[0]
    assert [row[0] for row in instances if row[0] == "other-1"] == ["other-1"]
    assert timers == good[1]


def test_the_projector_folds_streams_no_worker_folded(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    run_sagas(worker(store, read_models=False), ["o-1", "o-2"])  # as an import would
    assert contents(fresh_db) == ([], [])
    assert store.wait_until_readable()
    with PostgresProjector(fresh_db.app, registry=REGISTRY, batch_size=3) as projector:
        assert projector.catch_up() == len(store.read_all(0, 100))
        assert projector.catch_up() == 0  # nothing is behind any more
    folded = contents(fresh_db)
    assert len(folded[0]) == 2
    rebuild(fresh_db.owner, registry=REGISTRY)
    assert contents(fresh_db) == folded


def test_the_projector_leaves_rows_the_worker_wrote(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    run_sagas(worker(store), ["o-1", "o-2"])
    assert store.wait_until_readable()
    with PostgresProjector(fresh_db.app, registry=REGISTRY) as projector:
        assert projector.catch_up() == 0


def test_rebuild_of_an_empty_log(fresh_db: ScratchDb) -> None:
    report = rebuild(fresh_db.owner, registry=REGISTRY)
    assert report.events_replayed == 0
    assert report.checkpoint == 0
    assert contents(fresh_db) == ([], [])


def test_the_application_role_cannot_truncate_projections(fresh_db: ScratchDb) -> None:
    # Rebuild is an owner's operation; workers can maintain rows but not wipe tables.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        rebuild(fresh_db.app, registry=REGISTRY)
