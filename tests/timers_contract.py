"""The timers contract: which scheduled timers are due, as the timer poller asks. PostgreSQL
(the projection's due-timer query) in tests/integration/runtime/test_postgres_ports.py, memory
(the same fold, in memory) in tests/unit/runtime/test_memory_ports.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from event_store import NO_STREAM, EventStore, NewEvent
from orchestrator.runtime import Timers
from orchestrator.saga import events as ev

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _received() -> ev.Received:
    return ev.Received(message_id="m-1", message_type="test.Start", payload={}, at=NOW.isoformat())


def started(saga_type: str) -> NewEvent:
    return ev.SagaStarted(
        saga_type=saga_type, definition_version=1, business_key="k", state={}, received=_received()
    ).to_new_event()


def scheduled(timer_id: str, fire_at: datetime) -> NewEvent:
    return ev.TimerScheduled(
        timer_id=timer_id,
        fire_at=fire_at.isoformat(timespec="milliseconds"),
        purpose="step_timeout",
        step="reserve",
        attempt=1,
    ).to_new_event()


@dataclass
class TimersWorld:
    store: EventStore
    timers: Timers
    settle: Callable[[], None]  # make the appended events visible to `timers`

    def saga(self, stream_id: str, saga_type: str, *more: NewEvent) -> None:
        self.store.append(stream_id, saga_type, NO_STREAM, [started(saga_type), *more])


class TimersContract:
    """Abstract: `world` yields an EMPTY store and the timers read from it."""

    @pytest.fixture
    def world(self) -> TimersWorld:
        raise NotImplementedError

    def test_due_timers_earliest_first_and_bounded(self, world: TimersWorld) -> None:
        world.saga("s-1", "Order", scheduled("t-late", NOW - timedelta(seconds=1)))
        world.saga("s-2", "Order", scheduled("t-early", NOW - timedelta(minutes=5)))
        world.saga("s-3", "Order", scheduled("t-future", NOW + timedelta(seconds=1)))
        world.settle()
        due = world.timers.due(NOW, ["Order"], 10)
        assert [(t.timer_id, t.stream_id, t.saga_type) for t in due] == [
            ("t-early", "s-2", "Order"),
            ("t-late", "s-1", "Order"),
        ]
        assert due[0].fire_at == NOW - timedelta(minutes=5)
        assert [t.timer_id for t in world.timers.due(NOW, ["Order"], 1)] == ["t-early"]

    def test_fired_and_cancelled_timers_are_not_due(self, world: TimersWorld) -> None:
        past = NOW - timedelta(seconds=30)
        world.saga(
            "s-1",
            "Order",
            scheduled("t-fired", past),
            scheduled("t-cancelled", past),
            scheduled("t-open", past),
            ev.TimerFired(timer_id="t-fired", received=_received()).to_new_event(),
            ev.TimerCancelled(timer_id="t-cancelled").to_new_event(),
        )
        world.settle()
        assert [t.timer_id for t in world.timers.due(NOW, ["Order"], 10)] == ["t-open"]

    def test_timers_of_other_saga_types_are_left_to_their_deployment(
        self, world: TimersWorld
    ) -> None:
        past = NOW - timedelta(seconds=30)
        world.saga("s-order", "Order", scheduled("t-order", past))
        world.saga("s-trip", "Trip", scheduled("t-trip", past))
        world.settle()
        assert [t.timer_id for t in world.timers.due(NOW, ["Trip"], 10)] == ["t-trip"]
        assert {t.timer_id for t in world.timers.due(NOW, ["Order", "Trip"], 10)} == {
            "t-order",
            "t-trip",
        }
