"""Trip booking: flight, hotel and car booked in parallel (fail fast), then the payment."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from orchestrator.saga import RetryPolicy, Saga, compensation, parallel, step
from sagas.trip_messages import (
    BookFlight,
    BookHotel,
    BookTrip,
    CancelCarRental,
    CancelFlight,
    CancelHotel,
    CarRentalCancelled,
    CarRented,
    CarUnavailable,
    ChargeTraveller,
    FlightBooked,
    FlightCancelled,
    FlightUnavailable,
    HotelBooked,
    HotelCancelled,
    HotelUnavailable,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    RefundTraveller,
    RentCar,
)


class TripState(BaseModel):
    trip_id: str
    traveller_id: str
    destination: str
    nights: int
    price_cents: int
    flight_booking_id: str | None = None
    hotel_booking_id: str | None = None
    car_rental_id: str | None = None
    payment_id: str | None = None


# Booking systems are slow and flaky: short timeouts, retried with backoff.
BOOKING_RETRY = RetryPolicy(max_attempts=3, initial_backoff=timedelta(seconds=2))


class TripBooking(Saga[BookTrip, TripState]):
    name = "trip_booking"
    business_key = "trip_id"

    steps = (
        parallel(
            "book",
            step(
                "book_flight",
                BookFlight,
                to="airline",
                success=FlightBooked,
                failure=FlightUnavailable,
                on_success=lambda s, r: s.model_copy(update={"flight_booking_id": r.booking_id}),
                compensate=compensation(CancelFlight, confirmed=FlightCancelled),
                timeout=timedelta(seconds=20),
                retry=BOOKING_RETRY,
            ),
            step(
                "book_hotel",
                BookHotel,
                to="hotel",
                success=HotelBooked,
                failure=HotelUnavailable,
                on_success=lambda s, r: s.model_copy(update={"hotel_booking_id": r.booking_id}),
                compensate=compensation(CancelHotel, confirmed=HotelCancelled),
                timeout=timedelta(seconds=20),
                retry=BOOKING_RETRY,
            ),
            step(
                "rent_car",
                RentCar,
                to="car_rental",
                success=CarRented,
                failure=CarUnavailable,
                on_success=lambda s, r: s.model_copy(update={"car_rental_id": r.booking_id}),
                compensate=compensation(CancelCarRental, confirmed=CarRentalCancelled),
                timeout=timedelta(seconds=10),
                retry=BOOKING_RETRY,
            ),
        ),
        step(
            "charge",
            ChargeTraveller,
            to="payments",
            success=PaymentCaptured,
            failure=PaymentDeclined,
            on_success=lambda s, r: s.model_copy(update={"payment_id": r.payment_id}),
            compensate=compensation(RefundTraveller, confirmed=PaymentRefunded),
            timeout=timedelta(seconds=30),
            retry=RetryPolicy(max_attempts=2),
        ),
    )
