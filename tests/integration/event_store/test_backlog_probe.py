"""The outbox backlog gauge: events the relay has not passed, counted cheaply and correctly."""

from __future__ import annotations

from event_store import NewEvent
from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from orchestrator.runtime import PostgresOutboxBacklog
from tests.integration.event_store.conftest import ScratchDb

SUBSCRIPTION = "outbox-relay:backlog-test"


def append(store: PostgresEventStore, stream: str, count: int) -> tuple[int, ...]:
    events = [NewEvent("Noted", {"n": n}) for n in range(count)]
    return store.append(stream, "test", 0, events).positions


def test_the_backlog_is_what_lies_past_the_relay_checkpoint(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store, PostgresCheckpointStore(clean_db.app) as ck:
        probe = PostgresOutboxBacklog(clean_db.app, SUBSCRIPTION)
        try:
            assert probe.backlog() == 0
            first = append(store, "stream-a", 3)
            second = append(store, "stream-b", 4)
            # No checkpoint yet: the relay has passed nothing.
            assert probe.backlog() == 7
            ck.save(SUBSCRIPTION, first[-1])
            assert probe.backlog() == 4
            ck.save(SUBSCRIPTION, second[1])
            assert probe.backlog() == 2
            ck.save(SUBSCRIPTION, second[-1])
            assert probe.backlog() == 0
            # Another subscription's checkpoint is not this relay's.
            ck.save("outbox-relay:other", 0)
            assert probe.backlog() == 0
        finally:
            probe.close()


def test_the_count_stops_at_the_cap(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store, PostgresCheckpointStore(clean_db.app) as ck:
        positions = append(store, "stream-a", 9)
        probe = PostgresOutboxBacklog(clean_db.app, SUBSCRIPTION, cap=5)
        try:
            assert probe.backlog() == 5
            ck.save(SUBSCRIPTION, positions[1])
            assert probe.backlog() == 5
            ck.save(SUBSCRIPTION, positions[5])
            assert probe.backlog() == 3
        finally:
            probe.close()
