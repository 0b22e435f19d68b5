"""The in-memory store against the shared contract, plus what only it can show."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from event_store import ConcurrencyError, EventStore, InMemoryEventStore, NewEvent
from tests.event_store_contract import MAX_PAYLOAD, EventStoreContract
from tests.support import Background


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> EventStore:
        return InMemoryEventStore(max_payload_bytes=MAX_PAYLOAD)


def test_a_clock_that_stands_still_still_orders_events() -> None:
    frozen = datetime(2030, 1, 1, tzinfo=UTC)
    store = InMemoryEventStore(clock=lambda: frozen)
    store.append("s-1", "T", 0, [NewEvent("A", {})])
    store.append("s-1", "T", 1, [NewEvent("B", {})])
    first, second = store.read_stream("s-1")
    assert first.recorded_at == frozen
    assert second.recorded_at > first.recorded_at


def test_a_naive_clock_is_refused_and_nothing_is_written() -> None:
    store = InMemoryEventStore(clock=lambda: datetime(2030, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append("s-1", "T", 0, [NewEvent("A", {})])
    assert store.stream_version("s-1") == 0


def test_concurrent_appends_to_one_stream_never_share_a_version() -> None:
    store = InMemoryEventStore()
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def writer() -> None:
        barrier.wait()
        for _ in range(50):
            version = store.stream_version("hot")
            try:
                store.append("hot", "T", version, [NewEvent("A", {})])
                wins.append(version)
            except ConcurrencyError:
                continue  # losing the race is the point

    # Background: a writer that raises anything but ConcurrencyError fails the test here.
    for thread in [Background.call(writer).start() for _ in range(8)]:
        thread.outcome(60)
    assert sorted(wins) == list(range(len(wins)))
    assert store.verify().ok
