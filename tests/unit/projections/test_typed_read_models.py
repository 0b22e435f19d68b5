"""The read models are read off the typed fold: for every recorded history, after every event,
the rows say what `replay` of the same events says (status, parking, pending timers), and the
rows the worker writes batch by batch are the rows a rebuild makes from the events alone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store import InMemoryEventStore, RecordedEvent
from orchestrator.kafka import ConsumedRecord
from orchestrator.messages import Message
from orchestrator.projections import InMemoryReadModels, ReadModelChanges, fold_history
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._processor import Inbound, SagaProcessor
from orchestrator.saga import (
    Envelope,
    MessageDeadLettered,
    MessageRedriven,
    SagaRegistry,
    events,
    load_history,
    replay,
    saga_id_for,
)
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import CreditReserved, PlaceOrder
from sagas.trip_booking import TripBooking
from tests.histories.sagas import ConditionalOrder, RejectableRelease
from tests.unit.runtime.test_processor import Clock

HISTORIES = Path(__file__).parents[2] / "histories"
PATHS = sorted(HISTORIES.glob("*.jsonl"))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def registry_for(path: Path) -> SagaRegistry:
    # These start with the order saga's PlaceOrder: each needs a registry of its own.
    for saga in (RejectableRelease, ConditionalOrder):
        if path.stem.startswith(saga.name):
            return SagaRegistry([saga])
    return SagaRegistry([OrderFulfilment, TripBooking])


def recorded(history: list[events.SagaEvent], stream_id: str) -> list[RecordedEvent]:
    stream_type = history[0].saga_type if isinstance(history[0], events.SagaStarted) else ""
    out = []
    for index, event in enumerate(history):
        new = event.to_new_event()
        out.append(
            RecordedEvent(
                position=100 + index,
                stream_id=stream_id,
                stream_type=stream_type,
                version=index + 1,
                event_type=new.event_type,
                schema_version=new.schema_version,
                data=new.data,
                metadata={},
                recorded_at=T0 + timedelta(seconds=index),
                hash="",
            )
        )
    return out


def test_the_histories_include_a_parked_saga() -> None:
    assert any("parked" in path.stem for path in PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_after_every_event_the_rows_say_what_the_typed_fold_says(path: Path) -> None:
    registry = registry_for(path)
    history = load_history(path)
    stream = recorded(history, "saga-1")
    definition = registry.for_history(history)
    last_command_step = None
    for length in range(1, len(history) + 1):
        rows = ReadModelChanges()
        fold_history(rows, registry, stream[:length])
        state = replay(definition, history[:length])
        assert state is not None
        row = rows.instances["saga-1"]
        where = f"{path.stem} after event {length} ({history[length - 1].event_type})"
        assert row.status == state.lifecycle, where
        assert row.status_before_park == (
            state.status.value if state.lifecycle == "parked" else None
        ), where
        event = history[length - 1]
        if isinstance(event, events.CommandIssued):
            last_command_step = event.step
        assert row.current_step == last_command_step, where
        assert (row.saga_type, row.definition_version, row.business_key) == (
            state.saga_type,
            state.definition_version,
            state.business_key,
        )
        assert (row.last_version, row.last_position) == (length, 100 + length - 1)
        assert row.started_at == T0
        assert row.updated_at == T0 + timedelta(seconds=length - 1)
        scheduled = {
            key[1]: (t.fire_at, t.purpose, t.step, t.attempt)
            for key, t in rows.timers.items()
            if t.status == "scheduled"
        }
        pending = {
            timer_id: (t.fire_at, t.purpose, t.step, t.attempt)
            for timer_id, t in state.timers.items()
        }
        assert scheduled == pending, where


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_a_timer_that_left_the_pending_set_says_how(path: Path) -> None:
    registry = registry_for(path)
    history = load_history(path)
    rows = ReadModelChanges()
    fold_history(rows, registry, recorded(history, "saga-1"))
    fired = {e.timer_id for e in history if isinstance(e, events.TimerFired)}
    for (_, timer_id), timer in rows.timers.items():
        if timer.status != "scheduled":
            assert timer.status == ("fired" if timer_id in fired else "cancelled")
            assert timer.scheduled_at <= timer.updated_at


# --- the worker's path: rows written batch by batch from the decider's own states ----------

_offsets = itertools.count()


def inbound(saga_id: str, message: Message, message_id: str, **routing: object) -> Inbound:
    topic = OrderFulfilment.start_topic if isinstance(message, PlaceOrder) else "replies"
    record = ConsumedRecord(topic, 0, next(_offsets), saga_id.encode(), b"", [], -1)
    envelope = Envelope(message, message_id, saga_id, **routing)  # type: ignore[arg-type]
    return Inbound(record, envelope, is_start=isinstance(message, PlaceOrder))


def test_the_rows_the_worker_writes_are_the_rows_a_rebuild_makes() -> None:
    store = InMemoryEventStore()
    registry = SagaRegistry([OrderFulfilment])
    written = InMemoryReadModels(store)
    worker = SagaProcessor(registry, store, StateCache(100), Clock(), read_models=written)
    saga_id = saga_id_for("order_fulfilment", "o1")
    order = PlaceOrder(
        order_id="o1", customer_id="c1", sku="s", quantity=1, amount_cents=100, address="x"
    )
    parked = MessageDeadLettered(saga_id=saga_id, topic="t", partition=0, offset=7, reason="x")
    credit = CreditReserved(order_id="o1", reservation_id="r1")
    redriven = MessageRedriven(saga_id=saga_id, topic="t", partition=0, offset=7, actor="sre")
    worker.process([inbound(saga_id, order, "m-start")])
    worker.process([inbound(saga_id, parked, "m-park")])
    assert written.saga_instance(saga_id) is not None
    assert written.saga_instance(saga_id).status == "parked"  # type: ignore[union-attr]
    # One batch: a step succeeds while parked (the next command goes out), then the redrive.
    reply = inbound(saga_id, credit, "m-credit", step="reserve_credit", attempt=1)
    worker.process([reply, inbound(saga_id, redriven, "m-redrive")])
    live = (written.saga_instances(), written.timers())
    assert live[0][0].status == "running"
    assert live[0][0].current_step == "reserve_inventory"
    rebuilt = InMemoryReadModels(store)
    rebuilt.rebuild(registry)
    assert (rebuilt.saga_instances(), rebuilt.timers()) == live
    state = registry.replay(store.read_stream(saga_id))
    assert state is not None
    assert {t.timer_id for t in live[1] if t.status == "scheduled"} == set(state.timers)
