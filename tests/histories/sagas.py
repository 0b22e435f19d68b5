"""Sagas that exist only for recorded histories: behaviour the example sagas do not have."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.saga import RetryPolicy, Saga, compensation, step
from sagas.order_fulfilment import OrderState
from sagas.order_messages import (
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
    ShipmentRejected,
    ShipmentScheduled,
)


class RejectableRelease(Saga[PlaceOrder, OrderState]):
    """Credit, then shipment; the credit's release can be answered with a failure
    (InventoryUnavailable stands in for one), which retries it after a back-off."""

    name = "rejectable_release"
    business_key = "order_id"

    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            compensate=compensation(
                ReleaseCredit,
                confirmed=CreditReleased,
                rejected=InventoryUnavailable,
                timeout=timedelta(seconds=5),
                retry=RetryPolicy(max_attempts=3, initial_backoff=timedelta(seconds=2)),
            ),
            timeout=timedelta(seconds=30),
        ),
        step(
            "schedule_shipment",
            ScheduleShipment,
            to="shipping",
            success=ShipmentScheduled,
            failure=ShipmentRejected,
            timeout=timedelta(seconds=30),
        ),
    )


def release_reserved(state: OrderState, reply: InventoryReserved | None) -> ReleaseInventory:
    return ReleaseInventory(
        order_id=state.order_id,
        sku=state.sku,
        quantity=state.quantity,
        inventory_reservation_id=reply.reservation_id if reply else None,
    )


class ConditionalOrder(Saga[PlaceOrder, OrderState]):
    """Credit only for orders that cost something (`when=`); the stock is released with the
    reservation id of the reply that reserved it (a compensation built from the reply)."""

    name = "conditional_order"
    business_key = "order_id"

    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            compensate=compensation(ReleaseCredit, confirmed=CreditReleased),
            when=lambda s: s.amount_cents > 0,
            timeout=timedelta(seconds=30),
        ),
        step(
            "reserve_inventory",
            ReserveInventory,
            to="inventory",
            success=InventoryReserved,
            failure=InventoryUnavailable,
            compensate=compensation(
                ReleaseInventory, confirmed=InventoryReleased, build=release_reserved
            ),
            timeout=timedelta(seconds=30),
        ),
        step(
            "schedule_shipment",
            ScheduleShipment,
            to="shipping",
            success=ShipmentScheduled,
            failure=ShipmentRejected,
            timeout=timedelta(seconds=30),
        ),
    )
