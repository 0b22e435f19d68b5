"""`append_batch(..., in_transaction=...)`: work done in the append's own transaction commits
with the events, or rolls back with them (what keeps the saga read models in step)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from event_store import BatchAppendResult, NewEvent, StreamAppend
from event_store.postgres import PostgresEventStore
from tests.support import ScratchDb


@pytest.fixture
def store(fresh_db: ScratchDb) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(fresh_db.app) as store:
        yield store


def appends() -> list[StreamAppend]:
    return [
        StreamAppend("s-1", "T", 0, [NewEvent("A", {}), NewEvent("B", {})], message_id="m-1"),
        StreamAppend("s-2", "T", 3, [NewEvent("A", {})], message_id="m-2"),  # a conflict
    ]


def test_the_hook_sees_what_was_appended_and_its_writes_commit_with_it(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    seen: list[tuple[BatchAppendResult, datetime]] = []

    def hook(conn: psycopg.Connection[Any], result: BatchAppendResult, at: datetime) -> None:
        seen.append((result, at))
        conn.execute(
            "INSERT INTO subscription_checkpoints (name, position) VALUES ('hooked', %s)",
            [result.appended["s-1"].positions[-1]],
        )

    result = store.append_batch(appends(), in_transaction=hook)
    ((given, at),) = seen
    assert given == result
    assert set(result.conflicts) == {"s-2"}
    recorded = store.read_stream("s-1")
    assert [e.recorded_at for e in recorded] == [at, at]
    with psycopg.connect(fresh_db.app, autocommit=True) as conn:
        row = conn.execute("SELECT position FROM subscription_checkpoints WHERE name = 'hooked'")
        assert row.fetchone() == (recorded[-1].position,)


def test_a_failing_hook_rolls_the_events_back(store: PostgresEventStore) -> None:
    def hook(conn: psycopg.Connection[Any], result: BatchAppendResult, at: datetime) -> None:
        raise RuntimeError("the read model refused")

    with pytest.raises(RuntimeError, match="refused"):
        store.append_batch(appends(), in_transaction=hook)
    assert store.read_stream("s-1") == []
