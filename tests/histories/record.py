"""Records the histories in this directory: ``python -m tests.histories.record [NAME ...]``.

It writes only files that do not exist yet. Re-recording an existing file after changing a saga
(or the worker) defeats the replay check, whose whole point is that histories recorded by
earlier code keep replaying: the files without a format suffix were written in event format 1,
those ending in ``_format2`` in format 2, and must stay so. When a new format appears, the
scenarios are recorded again in it, under a new suffix.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from orchestrator.saga import dump_history, events
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    InventoryUnavailable,
    PlaceOrder,
    ShipmentRejected,
    ShipmentScheduled,
)
from sagas.trip_booking import TripBooking
from sagas.trip_messages import (
    BookTrip,
    CarRentalCancelled,
    FlightBooked,
    FlightCancelled,
    HotelUnavailable,
)
from tests.histories.sagas import ConditionalOrder, RejectableRelease

HERE = Path(__file__).parent


def _order(order_id: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=order_id,
        customer_id="customer-7",
        sku="SKU-42",
        quantity=2,
        amount_cents=4_990,
        address="1 Main Street",
    )


def order_completed(event_format: int) -> list[events.SagaEvent]:
    """Happy path with a redelivered reply and an inventory timeout retried once."""
    kit = SagaTestKit(OrderFulfilment, event_format=event_format)
    run = kit.start(_order("order-1"))
    run.when(CreditReserved(order_id="order-1", reservation_id="credit-1"))
    run.redeliver()
    kit.advance(timedelta(seconds=31))  # reserve_inventory attempt 1 times out
    kit.advance(timedelta(seconds=5))  # the backoff timer fires: attempt 2
    run.when(InventoryReserved(order_id="order-1", reservation_id="stock-1"))
    run.when(ShipmentScheduled(order_id="order-1", shipment_id="ship-1"))
    return run.history


def order_compensated(event_format: int) -> list[events.SagaEvent]:
    """Shipment rejected: inventory then credit released; a late credit reply is ignored."""
    kit = SagaTestKit(OrderFulfilment, event_format=event_format)
    run = kit.start(_order("order-2"))
    credit = run.when(CreditReserved(order_id="order-2", reservation_id="credit-2"))
    run.when(InventoryReserved(order_id="order-2", reservation_id="stock-2"))
    run.when(ShipmentRejected(order_id="order-2", reason="address not served"))
    run.when(
        CreditReserved(order_id="order-2", reservation_id="credit-2"),
        step="reserve_credit",
        attempt=credit.envelope.attempt,
    )
    run.when(InventoryReleased(order_id="order-2"))
    run.when(CreditReleased(order_id="order-2"))
    return run.history


def order_cancelled_while_parked(event_format: int) -> list[events.SagaEvent]:
    """A reply is dead-lettered (parked), the operator cancels, the message is redriven."""
    kit = SagaTestKit(OrderFulfilment, event_format=event_format)
    run = kit.start(_order("order-3"))
    run.when(CreditReserved(order_id="order-3", reservation_id="credit-3"))
    run.dead_letter("order_fulfilment.replies", partition=3, offset=1_207, reason="bad bytes")
    run.cancel(actor="alice@ops", reason="customer called to cancel")
    # The abandoned step's reply arrives after all: late, ignored (its compensation is out).
    run.when(
        InventoryReserved(order_id="order-3", reservation_id="stock-3"),
        step="reserve_inventory",
        attempt=1,
    )
    run.when(InventoryReleased(order_id="order-3"))
    run.when(CreditReleased(order_id="order-3"))
    run.redrive("order_fulfilment.replies", partition=3, offset=1_207)
    return run.history


def trip_fail_fast(event_format: int) -> list[events.SagaEvent]:
    """Hotel unavailable while the flight is booked and the car is in flight: fail fast,
    compensate car and flight; the flight cancellation times out once and is retried."""
    kit = SagaTestKit(TripBooking, event_format=event_format)
    run = kit.start(
        BookTrip(
            trip_id="trip-1",
            traveller_id="traveller-9",
            destination="LIS",
            nights=4,
            price_cents=123_400,
        )
    )
    run.when(FlightBooked(trip_id="trip-1", booking_id="flight-1"))
    run.when(HotelUnavailable(trip_id="trip-1", reason="fully booked"))
    run.when(CarRentalCancelled(trip_id="trip-1"))
    kit.advance(timedelta(seconds=21))  # CancelFlight attempt 1 times out
    kit.advance(timedelta(seconds=5))  # retry timer: CancelFlight attempt 2
    run.when(FlightCancelled(trip_id="trip-1"))
    return run.history


def order_retried_after_timeouts(event_format: int) -> list[events.SagaEvent]:
    """Credit never answers, so the saga fails; the operator retries it, and the release of
    the (possibly made) reservation times out until the compensation fails; the operator
    retries that too. Neither retry starts a new intent: their commands keep the step keys."""
    kit = SagaTestKit(OrderFulfilment, event_format=event_format)
    run = kit.start(_order("order-4"))
    run.when(CreditRejected(order_id="order-4", reason="limit"))  # failed: nothing done
    run.retry("reserve_credit", actor="alice@ops", reason="limit raised")  # a new intent
    kit.settle()  # no reply ever: timed out, released in vain, compensation failed
    run.retry("reserve_credit", actor="alice@ops", reason="credit service is back")
    run.when(CreditReleased(order_id="order-4"))
    return run.history


def order_compensation_rejected(event_format: int) -> list[events.SagaEvent]:
    """The release of the credit is answered with a failure (nothing released) and retried
    under a new step key; the retry times out once, then succeeds under that key."""
    kit = SagaTestKit(RejectableRelease, event_format=event_format)
    run = kit.start(_order("order-5"))
    run.when(CreditReserved(order_id="order-5", reservation_id="credit-5"))
    run.when(ShipmentRejected(order_id="order-5", reason="address not served"))
    run.when(InventoryUnavailable(order_id="order-5", reason="ledger locked"))  # rejected
    kit.advance(timedelta(seconds=2))  # back-off: attempt 2, a new intent
    kit.advance(timedelta(seconds=6))  # attempt 2 times out
    kit.advance(timedelta(seconds=6))  # back-off: attempt 3, the same intent
    run.when(CreditReleased(order_id="order-5"))
    return run.history


def conditional_free_order_compensated(event_format: int) -> list[events.SagaEvent]:
    """A free order skips the credit step (`when=`); the shipment is rejected, and the stock is
    released with the reservation id of the reply that reserved it."""
    kit = SagaTestKit(ConditionalOrder, event_format=event_format)
    run = kit.start(_order("order-6").model_copy(update={"amount_cents": 0}))
    run.when(InventoryReserved(order_id="order-6", reservation_id="stock-6"))
    run.when(ShipmentRejected(order_id="order-6", reason="address not served"))
    run.when(InventoryReleased(order_id="order-6"))
    return run.history


Scenario = Callable[[int], list[events.SagaEvent]]
SCENARIOS: dict[str, Scenario] = {
    "order_fulfilment_v1_completed": order_completed,
    "order_fulfilment_v1_compensated": order_compensated,
    "order_fulfilment_v1_cancelled_while_parked": order_cancelled_while_parked,
    "trip_booking_v1_fail_fast": trip_fail_fast,
}
# Scenarios of step keys, recorded from event format 3 on.
STEP_KEY_SCENARIOS: dict[str, Scenario] = {
    "order_fulfilment_v1_retried_after_timeouts": order_retried_after_timeouts,
    "rejectable_release_v1_compensation_rejected": order_compensation_rejected,
    # The author's API of the typed redesign: `when=` and compensations built from replies.
    "conditional_order_v1_free_order_compensated": conditional_free_order_compensated,
}
# Event format 1 (explicit timer events) under the bare names, recorded before formats
# existed; later formats under a suffix.
HISTORIES: dict[str, Callable[[], list[events.SagaEvent]]] = {
    **{name: partial(record, 1) for name, record in SCENARIOS.items()},
    **{f"{name}_format2": partial(record, 2) for name, record in SCENARIOS.items()},
    **{
        f"{name}_format3": partial(record, 3)
        for name, record in {**SCENARIOS, **STEP_KEY_SCENARIOS}.items()
    },
}


def main(names: list[str]) -> None:
    for name in names or list(HISTORIES):
        path = HERE / f"{name}.jsonl"
        if path.exists():
            sys.stderr.write(f"kept {path} (already recorded)\n")
            continue
        dump_history(HISTORIES[name](), path)
        sys.stderr.write(f"wrote {path}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
