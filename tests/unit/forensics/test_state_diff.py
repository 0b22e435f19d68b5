"""State at a point and the diff between two points, over recorded histories (no I/O)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.forensics import (
    History,
    PointError,
    describe,
    diff,
    flatten,
    state_at,
)
from orchestrator.saga import SagaRegistry, replay
from orchestrator.saga.events import event_from_recorded
from sagas.order_fulfilment import OrderFulfilment
from tests.unit.forensics.histories import (
    START,
    compensated_order,
    parked_then_retried,
    recorded,
)

REGISTRY = SagaRegistry([OrderFulfilment])
FAILED_AT = 7  # StepFailed of schedule_shipment in compensated_order()


def test_state_at_a_version_is_the_live_fold_of_the_events_up_to_it() -> None:
    history = recorded(compensated_order())
    for version in range(1, len(history) + 1):
        expected = replay(
            OrderFulfilment.definition, [event_from_recorded(r) for r in history[:version]]
        )
        assert state_at(REGISTRY, History.of(history).until_version(version)) == expected


def test_describe_shows_business_fields_lifecycle_and_steps() -> None:
    history = recorded(compensated_order())
    before = describe(state_at(REGISTRY, History.of(history).until_version(FAILED_AT - 1)))
    after = describe(state_at(REGISTRY, History.of(history).until_version(FAILED_AT)))
    assert before["lifecycle"] == "running"
    assert before["state"]["credit_reservation_id"] == "credit-r1"
    assert before["state"]["inventory_reservation_id"] == "inventory-r1"
    assert before["steps"]["schedule_shipment"]["status"] == "running"
    assert after["steps"]["schedule_shipment"]["status"] == "failed"
    assert after["failed_step"] == "schedule_shipment"
    flat = flatten(after)
    assert flat["state.order_id"] == "o-forensics-1"
    assert flat["steps.reserve_credit.status"] == "succeeded"
    assert flat["version"] == FAILED_AT
    assert isinstance(flat["handled_messages"], int)


def test_parked_lifecycle_and_dead_letter_reference_are_in_the_state() -> None:
    history = recorded(parked_then_retried())
    parked = describe(state_at(REGISTRY, History.of(history).until_version(3)))
    assert parked["lifecycle"] == "parked"
    assert parked["parked"] == [{"topic": "order.replies.dlt", "partition": 2, "offset": 41}]
    assert describe(state_at(REGISTRY, History.of(history).until_version(4)))["parked"] == []


def test_state_at_a_time_takes_the_events_recorded_at_or_before_it() -> None:
    history = recorded(compensated_order(), gap=timedelta(seconds=1))
    assert History.of(history).until_time(START + timedelta(seconds=3)).last_version == 4
    later = START + timedelta(seconds=3, microseconds=999)
    assert History.of(history).until_time(later).last_version == 4
    assert History.of(history).until_time(START + timedelta(days=1)).last_version == len(history)


@pytest.mark.parametrize("version", [0, 14, 1000])
def test_a_version_outside_the_stream_is_refused_naming_it(version: int) -> None:
    history = recorded(compensated_order())
    with pytest.raises(PointError, match=f"version {version} is not in the stream"):
        History.of(history).until_version(version)


def test_an_instant_before_the_start_or_without_offset_is_refused() -> None:
    history = recorded(compensated_order())
    with pytest.raises(PointError, match="before the saga's first event"):
        History.of(history).until_time(START - timedelta(seconds=1))
    with pytest.raises(PointError, match="no UTC offset"):
        History.of(history).until_time(START.replace(tzinfo=None))


def test_diff_across_the_failed_step_names_fields_values_and_events() -> None:
    history = recorded(compensated_order())
    result = diff(REGISTRY, History.of(history), FAILED_AT - 1, len(history))
    changes = {
        c.field: (c.before, c.after, [(x.version, x.event) for x in c.caused_by])
        for c in result.changes
    }
    assert changes["failed_step"] == (None, "schedule_shipment", [(7, "StepFailed")])
    assert changes["status"] == (
        "running",
        "compensated",
        [(8, "CompensationStarted"), (13, "SagaCompensated")],
    )
    assert changes["steps.schedule_shipment.status"] == ("running", "failed", [(7, "StepFailed")])
    assert changes["steps.reserve_inventory.status"] == (
        "succeeded",
        "compensated",
        [(9, "CommandIssued"), (10, "StepCompensated")],
    )
    assert changes["compensation_reason"] == (None, "failed", [(8, "CompensationStarted")])
    # The compensation plan came and went: no net change, so not reported.
    assert "compensation_plan" not in changes
    assert "version" not in changes
    # Nothing unchanged is listed.
    assert "state.order_id" not in changes
    assert (result.from_version, result.to_version) == (6, 13)


def test_diff_reports_business_fields_set_by_hooks() -> None:
    history = recorded(compensated_order())
    result = diff(REGISTRY, History.of(history), 1, 5)
    changes = {c.field: (c.before, c.after, [x.event for x in c.caused_by]) for c in result.changes}
    assert changes["state.credit_reservation_id"] == (None, "credit-r1", ["StepSucceeded"])
    assert changes["state.inventory_reservation_id"] == (None, "inventory-r1", ["StepSucceeded"])


def test_diff_reports_a_timer_that_came_or_went_as_one_change() -> None:
    history = History.of(recorded(compensated_order()))
    scheduled = diff(REGISTRY, history, 1, 2)  # the first command schedules its timeout
    [timer] = [c for c in scheduled.changes if c.field.startswith("timers.")]
    assert timer.field.count(".") == 1
    assert timer.before is None
    assert timer.after["step"] == "reserve_credit"
    assert timer.after["purpose"] == "step_timeout"
    assert [c.event for c in timer.caused_by] == ["CommandIssued"]
    closed = diff(REGISTRY, history, 2, 3)  # the reply closes it
    [gone] = [c for c in closed.changes if c.field.startswith("timers.")]
    assert (gone.field, gone.after) == (timer.field, None)
    assert [c.event for c in gone.caused_by] == ["StepSucceeded"]


def test_diff_of_a_point_with_itself_is_empty_and_backwards_is_refused() -> None:
    history = recorded(compensated_order())
    assert diff(REGISTRY, History.of(history), 5, 5).changes == ()
    with pytest.raises(PointError, match="after"):
        diff(REGISTRY, History.of(history), 6, 5)
    with pytest.raises(PointError, match="version 99"):
        diff(REGISTRY, History.of(history), 1, 99)
