"""Messages of the trip booking saga (schemas in ``schemas/examples/trip_booking/``)."""

from __future__ import annotations

from orchestrator.saga import Message

_NS = "saga.examples.trip"


class BookTrip(Message, avro_name=f"{_NS}.BookTrip"):
    trip_id: str
    traveller_id: str
    destination: str
    nights: int
    price_cents: int


class BookFlight(Message, avro_name=f"{_NS}.BookFlight"):
    trip_id: str
    traveller_id: str
    destination: str


class FlightBooked(Message, avro_name=f"{_NS}.FlightBooked"):
    trip_id: str
    booking_id: str


class FlightUnavailable(Message, avro_name=f"{_NS}.FlightUnavailable"):
    trip_id: str
    reason: str


class CancelFlight(Message, avro_name=f"{_NS}.CancelFlight"):
    trip_id: str
    flight_booking_id: str | None = None


class FlightCancelled(Message, avro_name=f"{_NS}.FlightCancelled"):
    trip_id: str


class BookHotel(Message, avro_name=f"{_NS}.BookHotel"):
    trip_id: str
    traveller_id: str
    destination: str
    nights: int


class HotelBooked(Message, avro_name=f"{_NS}.HotelBooked"):
    trip_id: str
    booking_id: str


class HotelUnavailable(Message, avro_name=f"{_NS}.HotelUnavailable"):
    trip_id: str
    reason: str


class CancelHotel(Message, avro_name=f"{_NS}.CancelHotel"):
    trip_id: str
    hotel_booking_id: str | None = None


class HotelCancelled(Message, avro_name=f"{_NS}.HotelCancelled"):
    trip_id: str


class RentCar(Message, avro_name=f"{_NS}.RentCar"):
    trip_id: str
    traveller_id: str
    destination: str
    nights: int


class CarRented(Message, avro_name=f"{_NS}.CarRented"):
    trip_id: str
    booking_id: str


class CarUnavailable(Message, avro_name=f"{_NS}.CarUnavailable"):
    trip_id: str
    reason: str


class CancelCarRental(Message, avro_name=f"{_NS}.CancelCarRental"):
    trip_id: str
    car_rental_id: str | None = None


class CarRentalCancelled(Message, avro_name=f"{_NS}.CarRentalCancelled"):
    trip_id: str


class ChargeTraveller(Message, avro_name=f"{_NS}.ChargeTraveller"):
    trip_id: str
    traveller_id: str
    price_cents: int


class PaymentCaptured(Message, avro_name=f"{_NS}.PaymentCaptured"):
    trip_id: str
    payment_id: str


class PaymentDeclined(Message, avro_name=f"{_NS}.PaymentDeclined"):
    trip_id: str
    reason: str


class RefundTraveller(Message, avro_name=f"{_NS}.RefundTraveller"):
    trip_id: str
    traveller_id: str
    price_cents: int
    payment_id: str | None = None


class PaymentRefunded(Message, avro_name=f"{_NS}.PaymentRefunded"):
    trip_id: str
