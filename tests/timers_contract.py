"""The timers contract: which scheduled timers are due, as the timer poller asks. PostgreSQL
(the projection's due-timer query) in tests/integration/runtime/test_postgres_ports.py, memory
(the same fold, in memory) in tests/unit/runtime/test_memory_ports.py.

The timers port reads the read models, whose rows come only from folding a stream with its
saga's definition: the contract's streams are histories of two real sagas (valid start state,
real step names), and `settle` folds them with `REGISTRY`, as a worker or the projector would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event_store import NO_STREAM, EventStore, NewEvent
from orchestrator.messages import Message
from orchestrator.runtime import Timers
from orchestrator.saga import Saga, SagaRegistry, TimerFired
from orchestrator.saga import events as ev
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder
from sagas.trip_booking import TripBooking
from sagas.trip_messages import BookTrip

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

ORDER = OrderFulfilment.definition.name
TRIP = TripBooking.definition.name
# What `settle` folds the contract's streams with.
REGISTRY = SagaRegistry([OrderFulfilment, TripBooking])


def _received(message: Message, message_id: str) -> ev.Received:
    return ev.Received(
        message_id=message_id,
        message_type=message.avro_name,
        payload=message.model_dump(mode="json"),
        at=NOW.isoformat(),
    )


# Each saga of the contract, and its start command for a business key.
_STARTS: dict[str, tuple[type[Saga[Any, Any]], Callable[[str], Message]]] = {
    ORDER: (
        OrderFulfilment,
        lambda key: PlaceOrder(
            order_id=key,
            customer_id="c-1",
            sku="sku-1",
            quantity=1,
            amount_cents=100,
            address="1 Main St",
        ),
    ),
    TRIP: (
        TripBooking,
        lambda key: BookTrip(
            trip_id=key, traveller_id="x-1", destination="Lisbon", nights=1, price_cents=100
        ),
    ),
}


def started(saga_type: str, key: str) -> NewEvent:
    saga, make_start = _STARTS[saga_type]
    start = make_start(key)
    definition = saga.definition
    return ev.SagaStarted(
        saga_type=definition.name,
        definition_version=definition.version,
        business_key=saga.business_key_of(start),
        state=definition.initial_state(start).model_dump(mode="json"),
        received=_received(start, f"start-{key}"),
    ).to_new_event()


def scheduled(timer_id: str, fire_at: datetime, step: str = "reserve_credit") -> NewEvent:
    return ev.TimerScheduled(
        timer_id=timer_id,
        fire_at=fire_at.isoformat(timespec="milliseconds"),
        purpose="step_timeout",
        step=step,
        attempt=1,
    ).to_new_event()


def fired(stream_id: str, timer_id: str, fire_at: datetime) -> NewEvent:
    tick = TimerFired(
        saga_id=stream_id, timer_id=timer_id, fire_at=fire_at.isoformat(timespec="milliseconds")
    )
    return ev.TimerFired(
        timer_id=timer_id, received=_received(tick, f"fire-{timer_id}")
    ).to_new_event()


@dataclass
class TimersWorld:
    store: EventStore
    timers: Timers
    settle: Callable[[], None]  # fold the appended events with REGISTRY, visible to `timers`

    def saga(self, stream_id: str, saga_type: str, *more: NewEvent) -> None:
        self.store.append(stream_id, saga_type, NO_STREAM, [started(saga_type, stream_id), *more])


class TimersContract:
    """Abstract: `world` yields an EMPTY store and the timers read from it."""

    @pytest.fixture
    def world(self) -> TimersWorld:
        raise NotImplementedError

    def test_due_timers_earliest_first_and_bounded(self, world: TimersWorld) -> None:
        world.saga("s-1", ORDER, scheduled("t-late", NOW - timedelta(seconds=1)))
        world.saga("s-2", ORDER, scheduled("t-early", NOW - timedelta(minutes=5)))
        world.saga("s-3", ORDER, scheduled("t-future", NOW + timedelta(seconds=1)))
        world.settle()
        due = world.timers.due(NOW, [ORDER], 10)
        assert [(t.timer_id, t.stream_id, t.saga_type) for t in due] == [
            ("t-early", "s-2", ORDER),
            ("t-late", "s-1", ORDER),
        ]
        assert due[0].fire_at == NOW - timedelta(minutes=5)
        assert [t.timer_id for t in world.timers.due(NOW, [ORDER], 1)] == ["t-early"]

    def test_fired_and_cancelled_timers_are_not_due(self, world: TimersWorld) -> None:
        past = NOW - timedelta(seconds=30)
        world.saga(
            "s-1",
            ORDER,
            scheduled("t-fired", past),
            scheduled("t-cancelled", past),
            scheduled("t-open", past),
            fired("s-1", "t-fired", past),
            ev.TimerCancelled(timer_id="t-cancelled").to_new_event(),
        )
        world.settle()
        assert [t.timer_id for t in world.timers.due(NOW, [ORDER], 10)] == ["t-open"]

    def test_timers_of_other_saga_types_are_left_to_their_deployment(
        self, world: TimersWorld
    ) -> None:
        past = NOW - timedelta(seconds=30)
        world.saga("s-order", ORDER, scheduled("t-order", past))
        world.saga("s-trip", TRIP, scheduled("t-trip", past, step="book_flight"))
        world.settle()
        assert [t.timer_id for t in world.timers.due(NOW, [TRIP], 10)] == ["t-trip"]
        assert {t.timer_id for t in world.timers.due(NOW, [ORDER, TRIP], 10)} == {
            "t-order",
            "t-trip",
        }
