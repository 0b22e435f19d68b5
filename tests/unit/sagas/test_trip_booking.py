"""The trip booking saga (parallel group, fail fast, timeouts), through the test kit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.saga import SagaStatus, events
from orchestrator.testing import SagaRun, SagaTestKit
from sagas.trip_booking import TripBooking
from sagas.trip_messages import (
    BookFlight,
    BookHotel,
    BookTrip,
    CancelCarRental,
    CancelFlight,
    CancelHotel,
    CarRentalCancelled,
    CarRented,
    ChargeTraveller,
    FlightBooked,
    FlightCancelled,
    HotelBooked,
    HotelCancelled,
    HotelUnavailable,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    RefundTraveller,
    RentCar,
)

TRIP = BookTrip(trip_id="t-1", traveller_id="p-1", destination="OPO", nights=2, price_cents=9000)


def status_now(run: SagaRun) -> SagaStatus:
    """`run.status` read afresh. mypy keeps `run.status` narrowed by an earlier assert across
    `run.when()`/`retry()`/`resolve()`, which change it; the result of a call is never narrowed."""
    return run.status


@pytest.fixture
def kit() -> SagaTestKit:
    return SagaTestKit(TripBooking)


def test_flight_hotel_and_car_are_booked_in_parallel_then_charged(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    run.last.expect_commands(
        BookFlight(trip_id="t-1", traveller_id="p-1", destination="OPO"),
        BookHotel(trip_id="t-1", traveller_id="p-1", destination="OPO", nights=2),
        RentCar(trip_id="t-1", traveller_id="p-1", destination="OPO", nights=2),
    )
    # Fan-in: nothing is charged until all three have answered, in whatever order.
    run.when(CarRented(trip_id="t-1", booking_id="car-1")).expect_no_commands()
    run.when(FlightBooked(trip_id="t-1", booking_id="fl-1")).expect_no_commands()
    run.when(HotelBooked(trip_id="t-1", booking_id="ho-1")).expect_commands(
        ChargeTraveller(trip_id="t-1", traveller_id="p-1", price_cents=9000)
    )
    run.when(PaymentCaptured(trip_id="t-1", payment_id="pay-1")).expect_event(events.SagaCompleted)
    assert run.status is SagaStatus.COMPLETED


def test_one_unavailable_booking_fails_fast_and_compensates_the_others(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    run.when(FlightBooked(trip_id="t-1", booking_id="fl-1"))
    out = run.when(HotelUnavailable(trip_id="t-1", reason="full"))
    # The car is still in flight: it may have been rented, so it is cancelled first.
    abandoned = out.expect_event(events.StepAbandoned)
    assert abandoned.step == "rent_car"
    out.expect_commands(CancelCarRental(trip_id="t-1", car_rental_id=None))
    run.when(CarRentalCancelled(trip_id="t-1")).expect_commands(
        CancelFlight(trip_id="t-1", flight_booking_id="fl-1")
    )
    run.when(FlightCancelled(trip_id="t-1"))
    assert run.status is SagaStatus.COMPENSATED
    # The car's reply turns up after all: recorded as ignored, nothing else happens.
    run.when(
        CarRented(trip_id="t-1", booking_id="car-1"), step="rent_car", attempt=1
    ).expect_ignored()


def test_a_declined_payment_cancels_all_three_bookings(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    run.when(FlightBooked(trip_id="t-1", booking_id="fl-1"))
    run.when(HotelBooked(trip_id="t-1", booking_id="ho-1"))
    run.when(CarRented(trip_id="t-1", booking_id="car-1"))
    out = run.when(PaymentDeclined(trip_id="t-1", reason="card expired"))
    # Reverse order of completion; the declined charge itself is not refunded.
    assert out.expect_event(events.CompensationStarted).plan == [
        "rent_car",
        "book_hotel",
        "book_flight",
    ]
    run.when(CarRentalCancelled(trip_id="t-1"))
    run.when(HotelCancelled(trip_id="t-1"))
    run.when(FlightCancelled(trip_id="t-1"))
    assert run.status is SagaStatus.COMPENSATED


def test_the_car_timeout_retries_with_backoff_then_fails_the_group(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    run.when(FlightBooked(trip_id="t-1", booking_id="fl-1"))
    run.when(HotelBooked(trip_id="t-1", booking_id="ho-1"))
    kit.advance(timedelta(seconds=10))
    assert [c.attempt for c in run.commands if c.step == "rent_car"] == [1]
    kit.advance(timedelta(seconds=3))  # backoff of 2 s +- 20 %
    assert [c.attempt for c in run.commands if c.step == "rent_car"] == [1, 2]
    kit.advance(timedelta(minutes=1))
    failed = run.events_of(events.StepFailed)
    assert [(e.step, e.reason) for e in failed if isinstance(e, events.StepFailed)] == [
        ("rent_car", "timed_out")
    ]
    assert [c.step for c in run.outstanding] == ["rent_car"]  # CancelCarRental first


def test_a_cancellation_that_keeps_timing_out_needs_an_operator(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    run.when(FlightBooked(trip_id="t-1", booking_id="fl-1"))
    run.when(HotelBooked(trip_id="t-1", booking_id="ho-1"))
    run.when(CarRented(trip_id="t-1", booking_id="car-1"))
    # Cancelled while the charge is in flight: it may have happened, so it is refunded first.
    run.cancel(actor="bob", reason="traveller changed plans").expect_commands(
        RefundTraveller(trip_id="t-1", traveller_id="p-1", price_cents=9000, payment_id=None)
    )
    run.when(PaymentRefunded(trip_id="t-1"))
    run.when(CarRentalCancelled(trip_id="t-1"))
    kit.settle()  # the hotel never answers its cancellation
    assert run.status is SagaStatus.COMPENSATION_FAILED
    alert = run.events_of(events.CompensationFailed)
    assert [(e.step, e.attempt) for e in alert if isinstance(e, events.CompensationFailed)] == [
        ("book_hotel", 5)
    ]
    # The hotel's system is back: the operator retries, with a fresh budget.
    retried = run.retry("book_hotel", actor="bob", reason="hotel system back")
    retried.expect_commands(CancelHotel(trip_id="t-1", hotel_booking_id="ho-1"))
    assert retried.commands[0].attempt == 6
    run.when(HotelCancelled(trip_id="t-1"))
    run.when(FlightCancelled(trip_id="t-1")).expect_event(events.SagaCancelled)
    assert status_now(run) is SagaStatus.CANCELLED


def test_a_charge_that_timed_out_is_refunded_first(kit: SagaTestKit) -> None:
    run = kit.start(TRIP)
    for reply in (
        FlightBooked(trip_id="t-1", booking_id="fl-1"),
        HotelBooked(trip_id="t-1", booking_id="ho-1"),
        CarRented(trip_id="t-1", booking_id="car-1"),
    ):
        run.when(reply)
    kit.advance(timedelta(minutes=2))  # both charge attempts time out
    assert [c.message for c in run.outstanding] == [
        RefundTraveller(trip_id="t-1", traveller_id="p-1", price_cents=9000, payment_id=None)
    ]
    run.when(PaymentRefunded(trip_id="t-1"))
    assert [c.step for c in run.outstanding] == ["rent_car"]
