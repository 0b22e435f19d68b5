"""Order fulfilment: reserve credit, reserve inventory, schedule shipment; undo in reverse."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from orchestrator.saga import RetryPolicy, Saga, compensation, step
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


class OrderState(BaseModel):
    order_id: str
    customer_id: str
    sku: str
    quantity: int
    amount_cents: int
    address: str
    # Kept in the state (and so in every recorded history) since version 1: the compensations
    # are filled from them by field name.
    credit_reservation_id: str | None = None
    inventory_reservation_id: str | None = None
    shipment_id: str | None = None


def credit_reserved(state: OrderState, reply: CreditReserved) -> OrderState:
    return state.model_copy(update={"credit_reservation_id": reply.reservation_id})


def inventory_reserved(state: OrderState, reply: InventoryReserved) -> OrderState:
    return state.model_copy(update={"inventory_reservation_id": reply.reservation_id})


def shipment_scheduled(state: OrderState, reply: ShipmentScheduled) -> OrderState:
    return state.model_copy(update={"shipment_id": reply.shipment_id})


class OrderFulfilment(Saga[PlaceOrder, OrderState]):
    name = "order_fulfilment"
    version = 1
    business_key = "order_id"  # one saga per order: a second PlaceOrder changes nothing

    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            on_success=lambda s, r: s.model_copy(
                update={"credit_reservation_id": r.reservation_id}
            ),
            compensate=compensation(ReleaseCredit, confirmed=CreditReleased),
            timeout=timedelta(seconds=30),
            retry=RetryPolicy(max_attempts=3),
        ),
        step(
            "reserve_inventory",
            ReserveInventory,
            to="inventory",
            success=InventoryReserved,
            failure=InventoryUnavailable,
            on_success=inventory_reserved,
            compensate=compensation(ReleaseInventory, confirmed=InventoryReleased),
            timeout=timedelta(seconds=30),
            retry=RetryPolicy(max_attempts=3),
        ),
        step(
            "schedule_shipment",
            ScheduleShipment,
            to="shipping",
            success=ShipmentScheduled,
            failure=ShipmentRejected,
            on_success=shipment_scheduled,
            compensate=compensation(CancelShipment, confirmed=ShipmentCancelled),
            timeout=timedelta(minutes=2),
            retry=RetryPolicy(max_attempts=2),
        ),
    )
