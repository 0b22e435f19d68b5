"""The order fulfilment saga, through the public test kit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.saga import SagaStatus, events
from orchestrator.testing import SagaRun, SagaTestKit
from sagas.order_fulfilment import OrderFulfilment, OrderState
from sagas.order_messages import (
    CancelShipment,
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    InventoryUnavailable,
    PlaceOrder,
    ReleaseCredit,
    ReleaseInventory,
    ReserveCredit,
    ReserveInventory,
    ScheduleShipment,
    ShipmentCancelled,
    ShipmentRejected,
    ShipmentScheduled,
)

ORDER = PlaceOrder(
    order_id="o-1", customer_id="c-1", sku="SKU-1", quantity=3, amount_cents=1500, address="Quay 1"
)


@pytest.fixture
def kit() -> SagaTestKit:
    return SagaTestKit(OrderFulfilment)


def reserved_credit_and_inventory(kit: SagaTestKit) -> SagaRun:
    run = kit.start(ORDER)
    run.when(CreditReserved(order_id="o-1", reservation_id="cr-1"))
    run.when(InventoryReserved(order_id="o-1", reservation_id="inv-1"))
    return run


def test_happy_path_reserves_credit_inventory_then_schedules_shipment(kit: SagaTestKit) -> None:
    run = kit.start(ORDER)
    run.last.expect_events(events.SagaStarted, events.CommandIssued)
    run.last.expect_commands(ReserveCredit(order_id="o-1", customer_id="c-1", amount_cents=1500))
    (timeout,) = run.instance.timers.values()
    assert (timeout.purpose, timeout.step, timeout.attempt) == ("step_timeout", "reserve_credit", 1)

    run.when(CreditReserved(order_id="o-1", reservation_id="cr-1")).expect_commands(
        ReserveInventory(order_id="o-1", sku="SKU-1", quantity=3)
    )
    run.when(InventoryReserved(order_id="o-1", reservation_id="inv-1")).expect_commands(
        ScheduleShipment(order_id="o-1", sku="SKU-1", quantity=3, address="Quay 1")
    )
    done = run.when(ShipmentScheduled(order_id="o-1", shipment_id="sh-1"))
    done.expect_events(events.StepSucceeded, events.SagaCompleted)
    assert run.status is SagaStatus.COMPLETED
    assert run.state == OrderState(
        **ORDER.model_dump(),
        credit_reservation_id="cr-1",
        inventory_reservation_id="inv-1",
        shipment_id="sh-1",
    )
    assert not run.instance.timers


def test_a_second_start_for_the_same_order_changes_nothing(kit: SagaTestKit) -> None:
    first = kit.start(ORDER)
    second = kit.start(ORDER)
    assert second is first
    second.last.expect_ignored("already_started")
    assert len(first.commands) == 1


def test_credit_rejected_fails_without_compensation(kit: SagaTestKit) -> None:
    run = kit.start(ORDER)
    (timeout,) = run.instance.timers.values()
    out = run.when(CreditRejected(order_id="o-1", reason="limit"))
    out.expect_events(events.StepFailed, events.SagaFailed)
    assert out.expect_event(events.StepFailed).cancels_timers == [timeout.timer_id]
    out.expect_no_commands()
    assert run.status is SagaStatus.FAILED


def test_shipment_rejected_releases_inventory_then_credit(kit: SagaTestKit) -> None:
    run = reserved_credit_and_inventory(kit)
    out = run.when(ShipmentRejected(order_id="o-1", reason="no courier"))
    out.expect_commands(
        ReleaseInventory(order_id="o-1", sku="SKU-1", quantity=3, inventory_reservation_id="inv-1")
    )
    assert out.expect_event(events.CompensationStarted).plan == [
        "reserve_inventory",
        "reserve_credit",
    ]
    run.when(InventoryReleased(order_id="o-1")).expect_commands(
        ReleaseCredit(
            order_id="o-1", customer_id="c-1", amount_cents=1500, credit_reservation_id="cr-1"
        )
    )
    run.when(CreditReleased(order_id="o-1")).expect_event(events.SagaCompensated)
    assert run.status is SagaStatus.COMPENSATED


def test_inventory_timeout_is_retried_then_compensated_as_possibly_executed(
    kit: SagaTestKit,
) -> None:
    run = kit.start(ORDER)
    run.when(CreditReserved(order_id="o-1", reservation_id="cr-1"))
    kit.advance(timedelta(seconds=30))  # attempt 1 times out, a jittered backoff is scheduled
    retried = [c for c in run.commands if c.step == "reserve_inventory"]
    assert [c.attempt for c in retried] == [1]
    kit.advance(timedelta(seconds=2))
    assert [c.attempt for c in run.commands if c.step == "reserve_inventory"] == [1, 2]
    kit.advance(timedelta(seconds=70))  # attempts 2 and 3 time out too
    assert [
        c.attempt for c in run.commands if c.step == "reserve_inventory" and not c.compensation
    ] == [1, 2, 3]
    # No reply ever came, but any attempt may have reserved stock: release it, then credit.
    assert [(c.step, c.compensation) for c in run.outstanding] == [("reserve_inventory", True)]
    run.when(InventoryReleased(order_id="o-1"))
    run.when(CreditReleased(order_id="o-1"))
    assert run.status is SagaStatus.COMPENSATED


def test_a_shipment_that_timed_out_is_cancelled_without_an_id(kit: SagaTestKit) -> None:
    run = reserved_credit_and_inventory(kit)
    kit.advance(timedelta(minutes=5))  # both attempts time out (2 min each, ~1 s between)
    cancels = [c.message for c in run.commands if isinstance(c.message, CancelShipment)]
    assert cancels == [CancelShipment(order_id="o-1", shipment_id=None)]
    run.when(ShipmentCancelled(order_id="o-1"))
    assert [c.step for c in run.outstanding] == ["reserve_inventory"]


def test_inventory_unavailable_after_a_late_reply_is_ignored(kit: SagaTestKit) -> None:
    run = kit.start(ORDER)
    run.when(CreditReserved(order_id="o-1", reservation_id="cr-1"))
    late = run.when(
        CreditReserved(order_id="o-1", reservation_id="cr-1"), step="reserve_credit", attempt=1
    )
    late.expect_ignored("late_reply").expect_no_commands()
    run.when(InventoryUnavailable(order_id="o-1", reason="sold out")).expect_commands(
        ReleaseCredit(
            order_id="o-1", customer_id="c-1", amount_cents=1500, credit_reservation_id="cr-1"
        )
    )
