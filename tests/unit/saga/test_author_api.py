"""The author's API at work in the decider: compensations built from the reply that proved the
step ran, and steps that run only when a condition of the state holds (`when=`)."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.saga import (
    Saga,
    SagaStatus,
    StepStatus,
    compensation,
    events,
    parallel,
    step,
)
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderState
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

T = timedelta(seconds=30)


def place_order(order_id: str = "o-1", amount_cents: int = 500) -> PlaceOrder:
    return PlaceOrder(
        order_id=order_id,
        customer_id="c-1",
        sku="S",
        quantity=1,
        amount_cents=amount_cents,
        address="A",
    )


def release_from(state: OrderState, reply: CreditReserved | None) -> ReleaseCredit:
    return ReleaseCredit(
        order_id=state.order_id,
        customer_id=state.customer_id,
        amount_cents=state.amount_cents,
        credit_reservation_id=reply.reservation_id if reply else None,
    )


class ReplyBuiltRelease(Saga[PlaceOrder, OrderState]):
    """No hook copies the reservation id into the state: the release takes it from the reply."""

    name = "reply_built_release"
    business_key = "order_id"
    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            compensate=compensation(ReleaseCredit, confirmed=CreditReleased, build=release_from),
            timeout=T,
        ),
        step(
            "reserve_inventory",
            ReserveInventory,
            to="inventory",
            success=InventoryReserved,
            failure=InventoryUnavailable,
            timeout=T,
        ),
    )


def test_a_compensation_is_built_from_the_success_reply_that_proved_the_step_ran() -> None:
    run = SagaTestKit(ReplyBuiltRelease).start(place_order())
    run.when(CreditReserved(order_id="o-1", reservation_id="r-77"))
    out = run.when(InventoryUnavailable(order_id="o-1", reason="none left"))
    out.expect_commands(
        ReleaseCredit(
            order_id="o-1", customer_id="c-1", amount_cents=500, credit_reservation_id="r-77"
        )
    )
    assert run.state == OrderState(**place_order().model_dump())  # no hook wrote anything


def test_a_step_that_only_may_have_run_is_compensated_without_a_reply() -> None:
    kit = SagaTestKit(ReplyBuiltRelease)
    run = kit.start(place_order())
    kit.advance(timedelta(minutes=10))  # credit never answers: retried, then given up
    release = next(c for c in run.commands if c.compensation)
    assert release.message == ReleaseCredit(
        order_id="o-1", customer_id="c-1", amount_cents=500, credit_reservation_id=None
    )


def no_credit_for_free_orders(state: OrderState) -> bool:
    return state.amount_cents > 0


class FreeOrdersSkipCredit(Saga[PlaceOrder, OrderState]):
    name = "free_orders_skip_credit"
    business_key = "order_id"
    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            compensate=compensation(ReleaseCredit, confirmed=CreditReleased),
            when=no_credit_for_free_orders,
            timeout=T,
        ),
        parallel(
            "fulfil",
            step(
                "reserve_inventory",
                ReserveInventory,
                to="inventory",
                success=InventoryReserved,
                failure=InventoryUnavailable,
                compensate=compensation(ReleaseInventory, confirmed=InventoryReleased),
                timeout=T,
            ),
            step(
                "schedule_shipment",
                ScheduleShipment,
                to="shipping",
                success=ShipmentScheduled,
                failure=ShipmentRejected,
                compensate=compensation(CancelShipment, confirmed=ShipmentCancelled),
                # Large orders are shipped by hand.
                when=lambda s: s.quantity < 10,
                timeout=T,
            ),
        ),
    )


def test_a_step_whose_condition_fails_is_skipped_and_the_next_stage_begins() -> None:
    run = SagaTestKit(FreeOrdersSkipCredit).start(place_order(amount_cents=0))
    run.last.expect_commands(
        ReserveInventory(order_id="o-1", sku="S", quantity=1),
        ScheduleShipment(order_id="o-1", sku="S", quantity=1, address="A"),
    )
    assert [c.step for c in run.outstanding] == ["reserve_inventory", "schedule_shipment"]
    assert run.instance.steps["reserve_credit"].status is StepStatus.PENDING


def test_a_skipped_member_of_a_parallel_group_does_not_hold_the_fan_in() -> None:
    big = place_order().model_copy(update={"quantity": 12})
    run = SagaTestKit(FreeOrdersSkipCredit).start(big)
    run.when(CreditReserved(order_id="o-1", reservation_id="r"))
    assert [c.step for c in run.outstanding] == ["reserve_inventory"]
    run.when(InventoryReserved(order_id="o-1", reservation_id="i")).expect_event(
        events.SagaCompleted
    )
    assert run.status is SagaStatus.COMPLETED


def test_a_skipped_step_is_not_compensated() -> None:
    run = SagaTestKit(FreeOrdersSkipCredit).start(place_order(amount_cents=0))
    run.when(InventoryReserved(order_id="o-1", reservation_id="i"))
    out = run.when(ShipmentRejected(order_id="o-1", reason="no courier"))
    out.expect_commands(ReleaseInventory(order_id="o-1", sku="S", quantity=1))
    run.when(InventoryReleased(order_id="o-1"))
    assert run.status is SagaStatus.COMPENSATED
    assert not [c for c in run.commands if c.step == "reserve_credit"]


def test_an_operator_retry_of_a_stage_leaves_its_skipped_members_skipped() -> None:
    big = place_order(amount_cents=0).model_copy(update={"quantity": 12})
    run = SagaTestKit(FreeOrdersSkipCredit).start(big)
    run.when(InventoryUnavailable(order_id="o-1", reason="none left"))
    assert run.status is SagaStatus.FAILED
    retried = run.retry("reserve_inventory")
    assert [c.step for c in retried.commands] == ["reserve_inventory"]


def test_skipping_replays_from_the_history_alone() -> None:
    kit = SagaTestKit(FreeOrdersSkipCredit)
    run = kit.start(place_order(amount_cents=0))
    run.when(InventoryReserved(order_id="o-1", reservation_id="i"))
    run.when(ShipmentScheduled(order_id="o-1", shipment_id="s"))
    assert run.status is SagaStatus.COMPLETED
    # No event records the skip; a second kit given the history folds to the same instance.
    again = SagaTestKit(FreeOrdersSkipCredit).given(*run.history)
    assert again.instance == run.instance
