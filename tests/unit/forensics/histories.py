"""Recorded histories for the forensics unit tests, made by the real decider (SagaTestKit) and
dressed as the event store would return them (positions, versions, instants, metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from event_store import RecordedEvent
from orchestrator.saga import SagaStatus, saga_id_for
from orchestrator.saga.events import SagaEvent
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    PlaceOrder,
    ShipmentRejected,
)

ORDER = "o-forensics-1"
START = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
STEPS = ("reserve_credit", "reserve_inventory", "schedule_shipment")


def place_order() -> PlaceOrder:
    return PlaceOrder(
        order_id=ORDER,
        customer_id="c-7",
        sku="sku-3",
        quantity=2,
        amount_cents=4999,
        address="1 A St",
    )


def compensated_order() -> list[SagaEvent]:
    """Credit and inventory reserved, shipment rejected, both undone in reverse order."""
    run = SagaTestKit(OrderFulfilment).start(place_order())
    run.when(CreditReserved(order_id=ORDER, reservation_id="credit-r1"))
    run.when(InventoryReserved(order_id=ORDER, reservation_id="inventory-r1"))
    run.when(ShipmentRejected(order_id=ORDER, reason="no carrier"))
    run.when(InventoryReleased(order_id=ORDER))
    run.when(CreditReleased(order_id=ORDER))
    assert run.status is SagaStatus.COMPENSATED
    return run.history


def parked_then_retried(reason: str = "limit raised") -> list[SagaEvent]:
    """A reply lands in a dead-letter topic (the saga is parked) and is redriven; credit is
    then rejected (the saga fails) and an operator, alice, retries the step, which succeeds."""
    run = SagaTestKit(OrderFulfilment).start(place_order())
    run.dead_letter("order.replies.dlt", partition=2, offset=41, reason="undecodable reply")
    run.redrive("order.replies.dlt", partition=2, offset=41)
    run.when(CreditRejected(order_id=ORDER, reason="over limit"))
    run.retry("reserve_credit", actor="alice", reason=reason)
    run.when(CreditReserved(order_id=ORDER, reservation_id="credit-r2"))
    return run.history


def recorded(
    history: Sequence[SagaEvent], gap: timedelta = timedelta(milliseconds=40)
) -> list[RecordedEvent]:
    saga_id = saga_id_for(OrderFulfilment.definition.name, ORDER)
    out = []
    for index, event in enumerate(history):
        new = event.to_new_event(
            {"causation_id": f"m-{index}", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        )
        out.append(
            RecordedEvent(
                position=1000 + 3 * index,
                stream_id=saga_id,
                stream_type=OrderFulfilment.definition.name,
                version=index + 1,
                event_type=new.event_type,
                schema_version=new.schema_version,
                data=new.data,
                metadata=new.metadata,
                recorded_at=START + gap * index,
                hash="",
            )
        )
    return out
