"""The projection rules, through the in-memory projections the saga test kit uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from event_store import InMemoryEventStore, NewEvent
from event_store.projections import InMemoryProjections

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


def start(store: InMemoryEventStore, saga_id: str = "saga-1") -> None:
    store.append(
        saga_id,
        "OrderFulfilment",
        0,
        [
            NewEvent(
                "SagaStarted",
                {"saga_type": "OrderFulfilment", "definition_version": 3, "business_key": "o-9"},
            )
        ],
    )


def add(store: InMemoryEventStore, saga_id: str, *events: NewEvent) -> None:
    store.append(saga_id, "OrderFulfilment", store.stream_version(saga_id), list(events))


def test_a_started_saga(store: InMemoryEventStore) -> None:
    start(store)
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    first = store.read_stream("saga-1")[0]
    assert (instance.saga_type, instance.status, instance.definition_version) == (
        "OrderFulfilment",
        "started",
        3,
    )
    assert instance.business_key == "o-9"
    assert instance.current_step is None
    assert instance.started_at == instance.updated_at == first.recorded_at
    assert (instance.last_version, instance.last_position) == (1, first.position)


def test_commands_set_the_step_and_running_unless_compensating(
    store: InMemoryEventStore,
) -> None:
    start(store)
    projections = InMemoryProjections(store)
    add(store, "saga-1", NewEvent("CommandIssued", {"step": "reserve", "attempt": 1}))
    instance = projections.saga_instance("saga-1")
    assert instance is not None
    assert (instance.status, instance.current_step) == (
        "running",
        "reserve",
    )
    add(store, "saga-1", NewEvent("CompensationStarted", {}))
    add(
        store,
        "saga-1",
        NewEvent("CommandIssued", {"step": "release", "attempt": 1, "compensation": True}),
    )
    instance = projections.saga_instance("saga-1")
    assert instance is not None
    assert (instance.status, instance.current_step) == (
        "compensating",
        "release",
    )


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("SagaCompleted", "completed"),
        ("SagaCompensated", "compensated"),
        ("SagaFailed", "failed"),
        ("CompensationFailed", "compensation_failed"),
        ("SagaCancelled", "cancelled"),
    ],
)
def test_terminal_statuses(store: InMemoryEventStore, event_type: str, status: str) -> None:
    start(store)
    add(store, "saga-1", NewEvent(event_type, {}))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert instance.status == status


@pytest.mark.parametrize(
    ("failed", "retried", "status"),
    [
        ("SagaFailed", {"step": "s", "compensation": False}, "running"),
        ("CompensationFailed", {"step": "s", "compensation": True}, "compensating"),
    ],
)
def test_an_operator_retry_reopens_the_saga(
    store: InMemoryEventStore, failed: str, retried: dict[str, object], status: str
) -> None:
    start(store)
    add(store, "saga-1", NewEvent(failed, {}), NewEvent("StepRetried", retried))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert instance.status == status


@pytest.mark.parametrize("outcome", ["completed", "compensated", "failed"])
def test_an_operator_resolution_sets_the_outcome_even_when_parked(
    store: InMemoryEventStore, outcome: str
) -> None:
    start(store)
    add(store, "saga-1", NewEvent("CommandIssued", {"step": "s"}), NewEvent("SagaParked", {}))
    add(store, "saga-1", NewEvent("SagaResolved", {"outcome": outcome, "actor": "a"}))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert (instance.status, instance.status_before_park) == (outcome, None)


def test_a_resolution_without_a_known_outcome_changes_no_status(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("CommandIssued", {"step": "s"}))
    add(store, "saga-1", NewEvent("SagaResolved", {"outcome": "maybe"}))
    add(store, "saga-1", NewEvent("SagaResolved", {}))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert instance.status == "running"


def test_parking_remembers_and_unparking_restores(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("CompensationStarted", {}), NewEvent("SagaParked", {}))
    projections = InMemoryProjections(store)
    parked = projections.saga_instance("saga-1")
    assert parked is not None
    assert (parked.status, parked.status_before_park) == ("parked", "compensating")
    add(store, "saga-1", NewEvent("SagaParked", {}))  # parked twice: still remembers
    add(store, "saga-1", NewEvent("SagaUnparked", {}))
    restored = projections.saga_instance("saga-1")
    assert restored is not None
    assert (restored.status, restored.status_before_park) == ("compensating", None)


def test_a_parked_saga_stays_parked_while_it_keeps_working(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("SagaParked", {}))
    add(store, "saga-1", NewEvent("CommandIssued", {"step": "reserve_inventory"}))
    add(store, "saga-1", NewEvent("CompensationStarted", {}))
    projections = InMemoryProjections(store)
    parked = projections.saga_instance("saga-1")
    assert parked is not None
    assert (parked.status, parked.status_before_park) == ("parked", "compensating")
    assert parked.current_step == "reserve_inventory"
    add(store, "saga-1", NewEvent("SagaUnparked", {"still_parked": 0}))
    restored = projections.saga_instance("saga-1")
    assert restored is not None
    assert restored.status == "compensating"


def test_unparking_one_of_two_dead_letters_keeps_the_saga_parked(
    store: InMemoryEventStore,
) -> None:
    start(store)
    add(store, "saga-1", NewEvent("SagaParked", {}), NewEvent("SagaParked", {}))
    add(store, "saga-1", NewEvent("SagaUnparked", {"still_parked": 1}))
    projections = InMemoryProjections(store)
    still = projections.saga_instance("saga-1")
    assert still is not None
    assert still.status == "parked"
    add(store, "saga-1", NewEvent("SagaUnparked", {"still_parked": 0}))
    unparked = projections.saga_instance("saga-1")
    assert unparked is not None
    assert unparked.status == "started"


def test_a_terminal_status_ends_the_parking(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("SagaParked", {}), NewEvent("SagaCompensated", {}))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert (instance.status, instance.status_before_park) == ("compensated", None)


def test_other_events_only_bump_updated_at(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("ReplyReceived", {"step": "x"}))
    instance = InMemoryProjections(store).saga_instance("saga-1")
    last = store.read_stream("saga-1")[-1]
    assert instance is not None
    assert (instance.status, instance.current_step) == ("started", None)
    assert instance.updated_at == last.recorded_at
    assert instance.last_version == 2


def test_streams_without_saga_started_make_no_instance(store: InMemoryEventStore) -> None:
    store.append("not-a-saga", "Ledger", 0, [NewEvent("Posted", {})])
    assert InMemoryProjections(store).saga_instances() == []


def test_malformed_saga_started_falls_back_to_the_stream_type(store: InMemoryEventStore) -> None:
    store.append("saga-1", "OrderFulfilment", 0, [NewEvent("SagaStarted", {"saga_type": 7})])
    instance = InMemoryProjections(store).saga_instance("saga-1")
    assert instance is not None
    assert instance.saga_type == "OrderFulfilment"
    assert instance.definition_version is None


def schedule(timer_id: str, fire_at: datetime, **extra: object) -> NewEvent:
    return NewEvent(
        "TimerScheduled",
        {
            "timer_id": timer_id,
            "fire_at": fire_at.isoformat(),
            "purpose": "step_timeout",
            "step": "reserve",
            "attempt": 1,
            **extra,
        },
    )


def test_due_timers_in_fire_at_order(store: InMemoryEventStore) -> None:
    start(store, "saga-1")
    start(store, "saga-2")
    add(store, "saga-1", schedule("t-late", T0 + timedelta(minutes=5)))
    add(store, "saga-1", schedule("t-early", T0 + timedelta(minutes=1)))
    add(store, "saga-2", schedule("t-mid", T0 + timedelta(minutes=3)))
    add(store, "saga-2", schedule("t-future", T0 + timedelta(hours=1)))
    projections = InMemoryProjections(store)
    due = projections.due_timers(T0 + timedelta(minutes=10), limit=10)
    assert [t.timer_id for t in due] == ["t-early", "t-mid", "t-late"]
    assert due[0].purpose == "step_timeout"
    assert due[0].step == "reserve"
    assert due[0].attempt == 1
    assert [t.timer_id for t in projections.due_timers(T0 + timedelta(minutes=10), 2)] == [
        "t-early",
        "t-mid",
    ]
    assert projections.due_timers(T0, 10) == []


def test_fired_and_cancelled_timers_are_no_longer_due(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", schedule("a", T0), schedule("b", T0), schedule("c", T0))
    add(store, "saga-1", NewEvent("TimerFired", {"timer_id": "a"}))
    add(store, "saga-1", NewEvent("TimerCancelled", {"timer_id": "b"}))
    projections = InMemoryProjections(store)
    assert [t.timer_id for t in projections.due_timers(T0, 10)] == ["c"]
    assert {t.timer_id: t.status for t in projections.timers()} == {
        "a": "fired",
        "b": "cancelled",
        "c": "scheduled",
    }


def test_a_timer_without_a_valid_fire_at_is_ignored(store: InMemoryEventStore) -> None:
    start(store)
    add(store, "saga-1", NewEvent("TimerScheduled", {"timer_id": "x", "fire_at": "soon"}))
    assert InMemoryProjections(store).timers() == []


def test_a_naive_fire_at_is_read_as_utc(store: InMemoryEventStore) -> None:
    start(store)
    add(
        store,
        "saga-1",
        NewEvent("TimerScheduled", {"timer_id": "x", "fire_at": "2030-01-01T00:00:00"}),
    )
    (timer,) = InMemoryProjections(store).timers()
    assert timer.fire_at == T0


def test_an_event_can_schedule_a_timer_inline_and_another_can_cancel_it(
    store: InMemoryEventStore,
) -> None:
    # Event format 2: CommandIssued carries its timeout, the reply event closes it.
    start(store)
    timer = schedule("t-1", T0).data
    add(
        store,
        "saga-1",
        NewEvent("CommandIssued", {"step": "reserve", "attempt": 1, "timer": timer}),
    )
    projections = InMemoryProjections(store)
    (scheduled,) = projections.timers()
    assert (scheduled.timer_id, scheduled.status, scheduled.fire_at) == ("t-1", "scheduled", T0)
    assert (scheduled.purpose, scheduled.step, scheduled.attempt) == ("step_timeout", "reserve", 1)
    instance = projections.saga_instance("saga-1")
    assert instance is not None
    assert instance.current_step == "reserve"
    add(store, "saga-1", NewEvent("StepSucceeded", {"step": "reserve", "cancels_timers": ["t-1"]}))
    (closed,) = projections.timers()
    assert closed.status == "cancelled"
    assert projections.due_timers(T0, 10) == []


def test_one_event_can_cancel_several_timers_and_odd_entries_are_skipped(
    store: InMemoryEventStore,
) -> None:
    start(store)
    add(store, "saga-1", schedule("a", T0), schedule("b", T0), schedule("c", T0))
    add(store, "saga-1", NewEvent("StepAbandoned", {"cancels_timers": ["a", 7, "b", "unknown"]}))
    add(store, "saga-1", NewEvent("StepFailed", {"cancels_timers": "c"}))  # not a list: no-op
    projections = InMemoryProjections(store)
    assert {t.timer_id: t.status for t in projections.timers()} == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "scheduled",
    }
