"""Event formats: an instance is written, for its whole life, in the format it started with.

Format 1 spells every step timeout out as TimerScheduled / TimerCancelled events; format 2 (and
3, the current one, which adds the step key) carries the timeout inside CommandIssued and lets
the event ending an attempt close it. Both must fold into the same instance state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.messages import Message
from orchestrator.saga import (
    DecisionContext,
    Envelope,
    ReplayError,
    SagaInstance,
    decide,
    events,
    evolve,
    replay,
    saga_id_for,
)
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditReserved,
    InventoryReserved,
    PlaceOrder,
    ShipmentRejected,
    ShipmentScheduled,
)

DEFINITION = OrderFulfilment.definition
ORDER = PlaceOrder(
    order_id="o-5", customer_id="c-5", sku="S", quantity=1, amount_cents=700, address="A"
)
SAGA_ID = saga_id_for("order_fulfilment", "o-5")
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
HAPPY = [
    (CreditReserved(order_id="o-5", reservation_id="c"), "reserve_credit"),
    (InventoryReserved(order_id="o-5", reservation_id="i"), "reserve_inventory"),
    (ShipmentScheduled(order_id="o-5", shipment_id="s"), "schedule_shipment"),
]


def drive(
    event_format: int, replies: list[tuple[Message, str]]
) -> tuple[list[events.SagaEvent], SagaInstance]:
    """Start the order saga in `event_format` and answer attempt 1 of each named step."""
    context = DecisionContext.for_message(NOW, "start", event_format=event_format)
    decision = decide(DEFINITION, None, Envelope(ORDER, "start", SAGA_ID), context)
    history, instance = list(decision.events), decision.instance
    for number, (reply, step) in enumerate(replies):
        envelope = Envelope(reply, f"reply-{number}", SAGA_ID, step=step, attempt=1)
        # The context's format is for starts only: later decisions follow the instance.
        later = DecisionContext.for_message(NOW + timedelta(seconds=number + 1), f"reply-{number}")
        decision = decide(DEFINITION, instance, envelope, later)
        history += decision.events
        instance = decision.instance
    assert instance is not None
    return history, instance


def names(history: list[events.SagaEvent]) -> list[str]:
    return [e.event_type for e in history]


def test_a_three_step_saga_takes_8_events_in_format_2_and_14_in_format_1() -> None:
    current, done = drive(events.CURRENT_EVENT_FORMAT, HAPPY)
    legacy, done_legacy = drive(events.EVENT_FORMAT_EXPLICIT_TIMERS, HAPPY)
    assert names(current) == [
        "SagaStarted",
        *["CommandIssued", "StepSucceeded"] * 3,
        "SagaCompleted",
    ]
    assert len(legacy) == 14
    assert names(legacy).count("TimerScheduled") == names(legacy).count("TimerCancelled") == 3
    # The same saga, written two ways, folds into the same state.
    assert done.status == done_legacy.status
    assert done.state == done_legacy.state
    assert done.steps == done_legacy.steps
    assert done.timers == done_legacy.timers == {}


def test_format_2_schedules_the_timeout_in_the_command_and_closes_it_with_the_reply() -> None:
    history, _ = drive(events.CURRENT_EVENT_FORMAT, HAPPY[:1])
    issued = next(e for e in history if isinstance(e, events.CommandIssued))
    assert issued.timer is not None
    assert (issued.timer.purpose, issued.timer.step, issued.timer.attempt) == (
        "step_timeout",
        "reserve_credit",
        1,
    )
    assert issued.timer.fire_at == "2024-05-01T12:00:30.000+00:00"
    succeeded = next(e for e in history if isinstance(e, events.StepSucceeded))
    assert succeeded.cancels_timers == [issued.timer.timer_id]


def test_format_1_timers_are_the_same_timers_as_format_2() -> None:
    current, _ = drive(events.CURRENT_EVENT_FORMAT, [])
    legacy, _ = drive(events.EVENT_FORMAT_EXPLICIT_TIMERS, [])
    inline = next(e for e in current if isinstance(e, events.CommandIssued)).timer
    scheduled = next(e for e in legacy if isinstance(e, events.TimerScheduled))
    assert inline == scheduled.timer


def test_a_format_1_instance_stays_in_format_1() -> None:
    history, instance = drive(events.EVENT_FORMAT_EXPLICIT_TIMERS, HAPPY[:1])
    assert instance.event_format == events.EVENT_FORMAT_EXPLICIT_TIMERS
    # The reply was decided with a current-format context, and still wrote format 1.
    assert names(history)[-4:] == [
        "StepSucceeded",
        "TimerCancelled",
        "CommandIssued",
        "TimerScheduled",
    ]
    assert all(not e.closed_timers for e in history)


def test_format_2_compensation_closes_the_in_flight_steps_timer_with_its_abandonment() -> None:
    kit = SagaTestKit(OrderFulfilment)
    run = kit.start(ORDER)
    run.when(CreditReserved(order_id="o-5", reservation_id="c"))
    run.when(InventoryReserved(order_id="o-5", reservation_id="i"))
    run.cancel()
    abandoned = [e for e in run.history if isinstance(e, events.StepAbandoned)]
    assert [e.step for e in abandoned] == ["schedule_shipment"]
    assert len(abandoned[0].cancels_timers) == 1
    assert not any(isinstance(e, events.TimerCancelled) for e in run.history)
    # Only the compensation's own timeout is pending now.
    (pending,) = run.instance.timers.values()
    assert pending.purpose == "compensation_timeout"


def test_a_format_2_history_replays_to_the_instance_the_decider_built() -> None:
    history, instance = drive(events.CURRENT_EVENT_FORMAT, HAPPY[:1])
    assert replay(DEFINITION, history) == instance
    rejected = [*HAPPY[:2], (ShipmentRejected(order_id="o-5", reason="x"), "schedule_shipment")]
    history, instance = drive(events.CURRENT_EVENT_FORMAT, rejected)
    assert replay(DEFINITION, history) == instance
    assert len(instance.timers) == 1  # the first compensation's timeout


def test_an_unknown_event_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event format 7"):
        DecisionContext.for_message(NOW, "m", event_format=7)
    history, _ = drive(events.CURRENT_EVENT_FORMAT, [])
    start = history[0]
    assert isinstance(start, events.SagaStarted)
    future = start.model_copy(update={"event_format": 7})
    with pytest.raises(ReplayError, match="unknown event format 7"):
        evolve(DEFINITION, None, future)


def test_a_start_recorded_before_formats_existed_reads_as_format_1() -> None:
    history, _ = drive(events.CURRENT_EVENT_FORMAT, [])
    data = history[0].model_dump(mode="json")
    del data["event_format"]
    old = events.event_from_data("SagaStarted", data)
    assert isinstance(old, events.SagaStarted)
    assert old.event_format == events.EVENT_FORMAT_EXPLICIT_TIMERS


def test_format_1_is_written_with_exactly_the_fields_workers_before_formats_wrote() -> None:
    # Workers that predate formats refuse unknown fields: a format-1 saga written today must
    # carry no field they do not know, or a rolling upgrade breaks them.
    histories = Path(__file__).parents[2] / "histories"
    known: dict[str, set[str]] = {}
    for path in histories.glob("*.jsonl"):
        if path.stem.endswith("_format2"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            known.setdefault(row["event_type"], set()).update(row["data"])
    rejected = [*HAPPY[:2], (ShipmentRejected(order_id="o-5", reason="x"), "schedule_shipment")]
    history, _ = drive(events.EVENT_FORMAT_EXPLICIT_TIMERS, rejected)
    for event in history:
        written = set(event.to_new_event().data)
        assert written <= known[event.event_type], (
            event.event_type,
            written - known[event.event_type],
        )
