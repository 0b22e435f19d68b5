"""Messages of the trip booking saga: the source of the `.avsc` files in
``sagas/schemas/trip_booking/`` (``python -m sagas.schemas`` writes them)."""

from __future__ import annotations

from orchestrator.saga import Long, Message

_NS = "saga.examples.trip"


class BookTrip(Message, avro_name=f"{_NS}.BookTrip"):
    """Start command of the trip booking saga."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    destination: str
    """City code of the destination."""
    nights: int
    """Number of nights to stay."""
    price_cents: Long
    """Total price to charge, in cents."""


class BookFlight(Message, avro_name=f"{_NS}.BookFlight"):
    """Command to the airline: book a return flight for the trip."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    destination: str
    """City code of the destination."""


class FlightBooked(Message, avro_name=f"{_NS}.FlightBooked"):
    """Reply: the flight was booked."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    booking_id: str
    """Id of the booking made by the participant."""


class FlightUnavailable(Message, avro_name=f"{_NS}.FlightUnavailable"):
    """Reply: no flight could be booked."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class CancelFlight(Message, avro_name=f"{_NS}.CancelFlight"):
    """Compensation: cancel the trip's flight booking."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    flight_booking_id: str | None = None
    """Flight booking to cancel, if the airline reported one."""


class FlightCancelled(Message, avro_name=f"{_NS}.FlightCancelled"):
    """Reply: the flight booking was cancelled (or never existed)."""

    trip_id: str
    """Id of the trip (the saga's business key)."""


class BookHotel(Message, avro_name=f"{_NS}.BookHotel"):
    """Command to the hotel: book rooms for the trip."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    destination: str
    """City code of the destination."""
    nights: int
    """Number of nights to stay."""


class HotelBooked(Message, avro_name=f"{_NS}.HotelBooked"):
    """Reply: the hotel was booked."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    booking_id: str
    """Id of the booking made by the participant."""


class HotelUnavailable(Message, avro_name=f"{_NS}.HotelUnavailable"):
    """Reply: no hotel could be booked."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class CancelHotel(Message, avro_name=f"{_NS}.CancelHotel"):
    """Compensation: cancel the trip's hotel booking."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    hotel_booking_id: str | None = None
    """Hotel booking to cancel, if the hotel reported one."""


class HotelCancelled(Message, avro_name=f"{_NS}.HotelCancelled"):
    """Reply: the hotel booking was cancelled (or never existed)."""

    trip_id: str
    """Id of the trip (the saga's business key)."""


class RentCar(Message, avro_name=f"{_NS}.RentCar"):
    """Command to the car rental company: rent a car for the trip."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    destination: str
    """City code of the destination."""
    nights: int
    """Number of nights to stay."""


class CarRented(Message, avro_name=f"{_NS}.CarRented"):
    """Reply: the car was rented."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    booking_id: str
    """Id of the booking made by the participant."""


class CarUnavailable(Message, avro_name=f"{_NS}.CarUnavailable"):
    """Reply: no car could be rented."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class CancelCarRental(Message, avro_name=f"{_NS}.CancelCarRental"):
    """Compensation: cancel the trip's car rental."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    car_rental_id: str | None = None
    """Car rental to cancel, if the rental company reported one."""


class CarRentalCancelled(Message, avro_name=f"{_NS}.CarRentalCancelled"):
    """Reply: the car rental was cancelled (or never existed)."""

    trip_id: str
    """Id of the trip (the saga's business key)."""


class ChargeTraveller(Message, avro_name=f"{_NS}.ChargeTraveller"):
    """Command to payments: charge the traveller for the trip."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    price_cents: Long
    """Total price to charge, in cents."""


class PaymentCaptured(Message, avro_name=f"{_NS}.PaymentCaptured"):
    """Reply: the payment was captured."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    payment_id: str
    """Id of the captured payment."""


class PaymentDeclined(Message, avro_name=f"{_NS}.PaymentDeclined"):
    """Reply: the payment was declined."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class RefundTraveller(Message, avro_name=f"{_NS}.RefundTraveller"):
    """Compensation: refund the trip's payment."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
    traveller_id: str
    """Id of the travelling customer."""
    price_cents: Long
    """Total price to charge, in cents."""
    payment_id: str | None = None
    """Id of the captured payment."""


class PaymentRefunded(Message, avro_name=f"{_NS}.PaymentRefunded"):
    """Reply: the payment was refunded (or never captured)."""

    trip_id: str
    """Id of the trip (the saga's business key)."""
