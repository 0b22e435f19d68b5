"""The worker's batch core against the in-memory store: one append per batch, redelivery
changes nothing, conflicts are replayed, unknown sagas are reported for dead-lettering."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from event_store.memory import InMemoryEventStore
from orchestrator.kafka import ConsumedRecord
from orchestrator.messages import Message
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._processor import Held, Inbound, SagaProcessor
from orchestrator.saga import (
    Envelope,
    MessageDeadLettered,
    SagaInstance,
    SagaRegistry,
    events,
    saga_id_for,
)
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import CreditReserved, InventoryReserved, PlaceOrder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_offsets = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def record(topic: str, saga_id: str) -> ConsumedRecord:
    return ConsumedRecord(topic, 0, next(_offsets), saga_id.encode(), b"", [], -1)


def start(order_id: str) -> Inbound:
    message = PlaceOrder(
        order_id=order_id, customer_id="c1", sku="sku-1", quantity=1, amount_cents=100, address="x"
    )
    saga_id = saga_id_for("order_fulfilment", order_id)
    envelope = Envelope(message=message, message_id=f"start-{order_id}", saga_id=saga_id)
    return Inbound(record(OrderFulfilment.start_topic, saga_id), envelope, is_start=True)


def reply(saga_id: str, message: Message, step: str, attempt: int, message_id: str) -> Inbound:
    envelope = Envelope(message, message_id, saga_id, step=step, attempt=attempt)
    return Inbound(record(OrderFulfilment.reply_topic, saga_id), envelope, is_start=False)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


def processor(
    store: InMemoryEventStore,
    cache: StateCache[SagaInstance] | None = None,
    *,
    event_format: int = events.CURRENT_EVENT_FORMAT,
) -> SagaProcessor:
    registry = SagaRegistry([OrderFulfilment])
    return SagaProcessor(
        registry, store, cache or StateCache(1000), Clock(), event_format=event_format
    )


def event_types(store: InMemoryEventStore, saga_id: str) -> list[str]:
    return [e.event_type for e in store.read_stream(saga_id)]


def test_a_batch_of_starts_is_one_append_per_saga_with_the_first_command(
    store: InMemoryEventStore,
) -> None:
    outcome = processor(store).process([start("o1"), start("o2"), start("o3")])
    assert outcome.appended_streams == 3
    for order in ("o1", "o2", "o3"):
        types = event_types(store, saga_id_for("order_fulfilment", order))
        assert types[0] == "SagaStarted"
        assert "CommandIssued" in types
    assert len(store.read_all(0, 1000)) == outcome.appended_events


def test_redelivered_messages_change_nothing(store: InMemoryEventStore) -> None:
    worker = processor(store)
    first = start("o1")
    worker.process([first])
    saga_id = first.envelope.saga_id
    before = store.read_stream(saga_id)
    credit = reply(
        saga_id, CreditReserved(order_id="o1", reservation_id="r1"), "reserve_credit", 1, "m1"
    )
    worker.process([credit])
    after_reply = store.read_stream(saga_id)
    assert len(after_reply) > len(before)
    # Redelivery of both, through a fresh worker (no cache: state replayed from the store).
    outcome = processor(store).process([first, credit])
    assert store.read_stream(saga_id) == after_reply
    assert outcome.duplicates == 2
    assert outcome.appended_events == 0


def test_a_stale_cache_conflicts_and_is_replayed(store: InMemoryEventStore) -> None:
    stale_worker = processor(store, StateCache(1000))
    first = start("o1")
    saga_id = first.envelope.saga_id
    credit = CreditReserved(order_id="o1", reservation_id="r1")
    # Cached under the reply topic's partition, now waiting for inventory.
    stale_worker.process([first, reply(saga_id, credit, "reserve_credit", 1, "m1")])
    # Another worker advances the saga behind this worker's cache.
    inventory = InventoryReserved(order_id="o1", reservation_id="i1")
    processor(store).process([reply(saga_id, inventory, "reserve_inventory", 1, "m2")])
    version_after_other = len(store.read_stream(saga_id))
    outcome = stale_worker.process([reply(saga_id, credit, "reserve_credit", 1, "m3")])
    assert outcome.cache_hits == 1
    assert outcome.conflict_rounds == 1
    events = store.read_stream(saga_id)
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    # The late duplicate is recorded as ignored on top of the other worker's events.
    assert len(events) == version_after_other + 1
    assert events[-1].event_type == "ReplyIgnored"


def test_a_second_start_for_the_same_business_key_is_ignored(store: InMemoryEventStore) -> None:
    processor(store).process([start("o1")])
    saga_id = saga_id_for("order_fulfilment", "o1")
    again = start("o1")
    again = Inbound(again.record, Envelope(again.envelope.message, "start-o1-again", saga_id), True)
    outcome = processor(store).process([again])  # fresh cache: assumes new, conflicts, replays
    assert outcome.conflict_rounds == 1
    assert event_types(store, saga_id).count("SagaStarted") == 1
    assert event_types(store, saga_id)[-1] == "ReplyIgnored"


def test_replies_for_sagas_that_do_not_exist_are_reported(store: InMemoryEventStore) -> None:
    ghost = saga_id_for("order_fulfilment", "never-started")
    orphan = reply(
        ghost, CreditReserved(order_id="x", reservation_id="r"), "reserve_credit", 1, "m9"
    )
    outcome = processor(store).process([orphan])
    assert outcome.unknown_saga == [orphan]
    assert store.read_stream(ghost) == []


def test_transitions_report_lifecycle_changes(store: InMemoryEventStore) -> None:
    outcome = processor(store).process([start("o1")])
    assert [(t.before, t.after) for t in outcome.transitions] == [(None, "running")]


def test_a_new_message_batched_with_a_redelivered_one_is_not_lost(
    store: InMemoryEventStore,
) -> None:
    # After a restart the batch holds a new reply and, after it, the redelivered start. The
    # append must not be keyed by the start's id (the store holds it already and would take
    # the whole append for a repeat, dropping the reply's events).
    first = start("o1")
    processor(store).process([first])
    saga_id = first.envelope.saga_id
    credit = reply(
        saga_id, CreditReserved(order_id="o1", reservation_id="r1"), "reserve_credit", 1, "m1"
    )
    processor(store).process([credit, first])
    assert "StepSucceeded" in event_types(store, saga_id)


def test_a_stale_plan_keyed_by_a_message_the_store_holds_is_replayed(
    store: InMemoryEventStore,
) -> None:
    cache: StateCache[SagaInstance] = StateCache(1000)
    stale_worker = processor(store, cache)
    first = start("o1")
    saga_id = first.envelope.saga_id
    credit = reply(
        saga_id, CreditReserved(order_id="o1", reservation_id="r1"), "reserve_credit", 1, "m1"
    )
    stale_worker.process([first, credit])
    inventory = reply(
        saga_id, InventoryReserved(order_id="o1", reservation_id="i1"), "reserve_inventory", 1, "m2"
    )
    processor(store).process([inventory])  # behind the stale worker's cache
    # The stale worker sees the same inventory reply again: its plan is keyed by m2, which the
    # store holds; it must replay, recognise m2 as handled, and write nothing.
    versions_before = len(store.read_stream(saga_id))
    outcome = stale_worker.process([inventory])
    assert len(store.read_stream(saga_id)) == versions_before
    assert outcome.duplicates == 1


def test_sagas_start_in_the_configured_event_format_and_keep_it(
    store: InMemoryEventStore,
) -> None:
    # A rolling upgrade: this worker writes format 1 for the sagas it starts...
    processor(store, event_format=1).process([start("o1")])
    saga_id = saga_id_for("order_fulfilment", "o1")
    assert event_types(store, saga_id) == ["SagaStarted", "CommandIssued", "TimerScheduled"]
    # ...and a worker on the current format continues that saga in format 1.
    credit = CreditReserved(order_id="o1", reservation_id="r")
    processor(store).process([reply(saga_id, credit, "reserve_credit", 1, "reply-1")])
    assert event_types(store, saga_id)[3:] == [
        "StepSucceeded",
        "TimerCancelled",
        "CommandIssued",
        "TimerScheduled",
    ]
    processor(store).process([start("o2")])
    assert event_types(store, saga_id_for("order_fulfilment", "o2")) == [
        "SagaStarted",
        "CommandIssued",
    ]


class OrderFulfilmentV2(OrderFulfilment):
    version = 2


def test_outcomes_are_tallied_once_per_message_by_topic(store: InMemoryEventStore) -> None:
    first = start("o1")
    saga_id = first.envelope.saga_id
    credit = reply(
        saga_id, CreditReserved(order_id="o1", reservation_id="r1"), "reserve_credit", 1, "m1"
    )
    late = reply(
        saga_id, CreditReserved(order_id="o1", reservation_id="r2"), "reserve_credit", 1, "m2"
    )
    parking = Inbound(
        record(OrderFulfilment.reply_topic, saga_id),
        Envelope(
            MessageDeadLettered(saga_id=saga_id, topic="t", partition=0, offset=1, reason="x"),
            "park-1",
            saga_id,
        ),
        is_start=False,
        counted=False,
    )
    outcome = processor(store).process([first, credit, late, credit, parking])
    assert outcome.consumed == {
        (OrderFulfilment.start_topic, "processed"): 1,
        (OrderFulfilment.reply_topic, "processed"): 1,
        (OrderFulfilment.reply_topic, "ignored"): 1,  # m2: the step is no longer running
        (OrderFulfilment.reply_topic, "duplicate"): 1,  # m1 again
    }
    assert outcome.duplicates == 1
    assert "SagaParked" in event_types(store, saga_id)  # decided, but not counted


def test_a_saga_of_a_missing_version_is_held_with_what_follows_on_its_partition(
    store: InMemoryEventStore,
) -> None:
    both = SagaRegistry([OrderFulfilment, OrderFulfilmentV2])
    SagaProcessor(both, store, StateCache(1000), Clock()).process([start("v2")])
    v2_saga = saga_id_for("order_fulfilment", "v2")
    processor(store).process([start("v1")])  # a v1 saga, started by a v1 worker
    v1_saga = saga_id_for("order_fulfilment", "v1")
    v1_before = event_types(store, v1_saga)

    credit = CreditReserved(order_id="x", reservation_id="r")
    for_v2 = reply(v2_saga, credit, "reserve_credit", 1, "m-v2")
    behind = reply(v1_saga, credit, "reserve_credit", 1, "m-v1")  # same partition, later
    other_partition = start("v1-new")
    outcome = processor(store).process([for_v2, behind, other_partition])

    assert outcome.held == {
        for_v2.partition: Held(for_v2.record.offset, "order_fulfilment", 2),
    }
    assert outcome.is_held(behind)
    assert event_types(store, v1_saga) == v1_before  # not decided: it comes again
    assert event_types(store, saga_id_for("order_fulfilment", "v1-new"))[0] == "SagaStarted"
    assert outcome.consumed == {(OrderFulfilment.start_topic, "processed"): 1}


def test_a_start_of_a_saga_that_exists_on_a_missing_version_is_held(
    store: InMemoryEventStore,
) -> None:
    both = SagaRegistry([OrderFulfilment, OrderFulfilmentV2])
    SagaProcessor(both, store, StateCache(1000), Clock()).process([start("v2")])
    saga_id = saga_id_for("order_fulfilment", "v2")
    before = event_types(store, saga_id)
    again = start("v2")  # assumed new, conflicts, and the replay meets version 2
    outcome = processor(store).process([again])
    assert outcome.held == {again.partition: Held(again.record.offset, "order_fulfilment", 2)}
    assert event_types(store, saga_id) == before
    assert outcome.consumed == {}
