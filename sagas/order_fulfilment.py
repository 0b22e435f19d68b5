"""Order fulfilment: reserve credit, reserve inventory, schedule shipment; undo in reverse."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel

from orchestrator.saga import RetryPolicy, Saga, Step, step
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
    credit_reservation_id: str | None = None
    inventory_reservation_id: str | None = None
    shipment_id: str | None = None


def credit_reserved(state: OrderState, reply: CreditReserved) -> OrderState:
    return state.model_copy(update={"credit_reservation_id": reply.reservation_id})


def inventory_reserved(state: OrderState, reply: InventoryReserved) -> OrderState:
    return state.model_copy(update={"inventory_reservation_id": reply.reservation_id})


def shipment_scheduled(state: OrderState, reply: ShipmentScheduled) -> OrderState:
    return state.model_copy(update={"shipment_id": reply.shipment_id})


class OrderFulfilment(Saga):
    name = "order_fulfilment"
    version = 1
    state = OrderState
    start = PlaceOrder
    business_key = "order_id"  # one saga per order: a second PlaceOrder changes nothing

    # Any number of plain steps (no parallel group): variants of this saga list others.
    steps: ClassVar[tuple[Step, ...]] = (
        step(
            "reserve_credit", ReserveCredit, topic="credit.commands",
            success=CreditReserved, failure=CreditRejected, on_success=credit_reserved,
            compensate=ReleaseCredit, compensated=CreditReleased,
            timeout=timedelta(seconds=30), retry=RetryPolicy(max_attempts=3),
        ),
        step(
            "reserve_inventory", ReserveInventory, topic="inventory.commands",
            success=InventoryReserved, failure=InventoryUnavailable,
            on_success=inventory_reserved,
            compensate=ReleaseInventory, compensated=InventoryReleased,
            timeout=timedelta(seconds=30), retry=RetryPolicy(max_attempts=3),
        ),
        step(
            "schedule_shipment", ScheduleShipment, topic="shipping.commands",
            success=ShipmentScheduled, failure=ShipmentRejected, on_success=shipment_scheduled,
            compensate=CancelShipment, compensated=ShipmentCancelled,
            timeout=timedelta(minutes=2), retry=RetryPolicy(max_attempts=2),
        ),
    )  # fmt: skip
