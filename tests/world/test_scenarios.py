"""Whole sagas with real participant handlers, worker, relay and timer poller, in one process:
in memory by default (milliseconds per saga, on a virtual clock), on PostgreSQL and Kafka with
SAGA_TEST_STACK=real. The scenarios are the same on both; only the stack differs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from orchestrator.messages import Message
from orchestrator.participant import CommandContext, Participant
from orchestrator.saga import Saga, StepStatus
from orchestrator.world import SagaWorld, VirtualClock
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder
from sagas.order_services import SERVICES, Behaviour, order_service
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
    PaymentCaptured,
    PaymentRefunded,
    RefundTraveller,
    RentCar,
)
from tests.world.conftest import MakeStack
from tests.world.variants import on_own_topics

World = Callable[..., SagaWorld]


@pytest.fixture
def world(make_stack: MakeStack, clock: VirtualClock) -> Iterator[World]:
    worlds: list[SagaWorld] = []

    def build(*sagas: type[Saga]) -> SagaWorld:
        worlds.append(SagaWorld(make_stack(clock), sagas, clock))
        return worlds[-1]

    yield build
    for each in worlds:
        each.stop()


def order_world(
    world: World, suffix: str, **behaviours: Behaviour
) -> tuple[SagaWorld, type[OrderFulfilment]]:
    saga = on_own_topics(OrderFulfilment, suffix)
    running = world(saga)
    for service in SERVICES:
        running.add(
            order_service(
                service,
                settings=running.settings,
                codec=running.codec,
                inbox=running.stack.inbox(service),
                behaviour=behaviours.get(service, Behaviour()),
                saga=saga,
            )
        )
    running.start()
    return running, saga


def place_order() -> PlaceOrder:
    return PlaceOrder(
        order_id=f"o-{uuid.uuid4().hex[:8]}", customer_id="c-1", sku="sku-1", quantity=2,
        amount_cents=1_500, address="1 Main St",
    )  # fmt: skip


def test_happy_path(world: World, suffix: str) -> None:
    running, saga = order_world(world, suffix)
    saga_id = running.start_saga(saga, place_order())
    done = running.wait_for(saga_id, "completed")
    assert {name: step.status for name, step in done.steps.items()} == {
        "reserve_credit": StepStatus.SUCCEEDED,
        "reserve_inventory": StepStatus.SUCCEEDED,
        "schedule_shipment": StepStatus.SUCCEEDED,
    }
    assert all(step.attempt == 1 for step in done.steps.values())


def test_a_refusal_compensates_the_steps_before_it(world: World, suffix: str) -> None:
    running, saga = order_world(world, suffix, shipping=Behaviour(failure_rate=1.0))
    saga_id = running.start_saga(saga, place_order())
    done = running.wait_for(saga_id, "compensated")
    assert done.failed_step == "schedule_shipment"
    assert done.steps["reserve_credit"].status == StepStatus.COMPENSATED
    assert done.steps["reserve_inventory"].status == StepStatus.COMPENSATED
    assert done.steps["schedule_shipment"].status == StepStatus.FAILED


def test_a_silent_participant_times_out_is_retried_then_compensated(
    world: World, suffix: str
) -> None:
    running, saga = order_world(world, suffix, shipping=Behaviour(silence_rate=1.0))
    saga_id = running.start_saga(saga, place_order())
    running.wait_for(saga_id, lambda s: s.steps["schedule_shipment"].attempt == 1)
    # Two attempts of 2 minutes each and a backoff between them: saga time jumps from timer
    # to timer, so the five minutes pass in milliseconds.
    started = running.clock.now()
    done = running.fire_timers_until(saga_id, "compensated")
    assert running.clock.now() - started >= timedelta(minutes=4)
    shipment = done.steps["schedule_shipment"]
    assert shipment.attempt == 2, "retried once before giving up"
    assert shipment.possibly_executed, "a silent attempt may have run: it is compensated too"
    assert done.steps["reserve_credit"].status == StepStatus.COMPENSATED
    assert done.steps["reserve_inventory"].status == StepStatus.COMPENSATED


def trip_id(message: Message) -> str:
    return str(getattr(message, "trip_id"))  # noqa: B009 - every trip message has it


def trip_services(running: SagaWorld, saga: type[TripBooking]) -> None:
    """Airline, hotel, car rental and payments: every booking succeeds."""
    steps = saga.definition.steps

    def service(name: str, step: str, reply: Callable[[Message], Message], undo: Message) -> None:
        definition = steps[step]
        compensation = definition.compensation
        assert compensation is not None
        participant = Participant(
            name, settings=running.settings, codec=running.codec, inbox=running.stack.inbox(name)
        )

        def forward(command: Message, _ctx: CommandContext) -> Message:
            return reply(command)

        def cancel(command: Message, _ctx: CommandContext) -> Message:
            return undo.model_copy(update={"trip_id": trip_id(command)})

        participant.handles(definition.command, topic=definition.topic)(forward)
        participant.handles(compensation.command, topic=compensation.topic)(cancel)
        running.add(participant)

    def booked(kind: Callable[..., Message], name: str) -> Callable[[Message], Message]:
        return lambda c: kind(trip_id=trip_id(c), booking_id=f"{name}-{trip_id(c)}")

    service("airline", "book_flight", booked(FlightBooked, "flight"), FlightCancelled(trip_id=""))
    service("hotel", "book_hotel", booked(HotelBooked, "hotel"), HotelCancelled(trip_id=""))
    service("car_rental", "rent_car", booked(CarRented, "car"), CarRentalCancelled(trip_id=""))
    service(
        "payments",
        "charge",
        lambda c: PaymentCaptured(trip_id=trip_id(c), payment_id=f"p-{trip_id(c)}"),
        PaymentRefunded(trip_id=""),
    )
    assert {BookFlight, BookHotel, RentCar, ChargeTraveller} == {
        steps[s].command for s in ("book_flight", "book_hotel", "rent_car", "charge")
    }
    assert {CancelFlight, CancelHotel, CancelCarRental, RefundTraveller} == {
        steps[s].compensation.command  # type: ignore[union-attr]
        for s in ("book_flight", "book_hotel", "rent_car", "charge")
    }


def test_a_parallel_group_then_the_step_after_it(world: World, suffix: str) -> None:
    saga = on_own_topics(TripBooking, suffix)
    running = world(saga)
    trip_services(running, saga)
    running.start()
    trip = BookTrip(
        trip_id=f"t-{uuid.uuid4().hex[:8]}", traveller_id="x-1", destination="Lisbon", nights=3,
        price_cents=90_000,
    )  # fmt: skip
    saga_id = running.start_saga(saga, trip)
    done = running.wait_for(saga_id, "completed")
    state = done.state
    assert getattr(state, "flight_booking_id") == f"flight-{trip.trip_id}"  # noqa: B009
    assert getattr(state, "hotel_booking_id") == f"hotel-{trip.trip_id}"  # noqa: B009
    assert getattr(state, "car_rental_id") == f"car-{trip.trip_id}"  # noqa: B009
    assert getattr(state, "payment_id") == f"p-{trip.trip_id}"  # noqa: B009
