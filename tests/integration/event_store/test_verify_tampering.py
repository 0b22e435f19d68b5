"""verify recomputes the hash chains and names the first broken event, whatever was done.

Tampering needs the superuser with triggers disabled (session_replication_role = replica):
exactly the attacker, or the careless DBA, the chain exists to expose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from event_store.projections import PostgresProjector
from event_store.verify import expected_hash
from tests.support import ScratchDb


@pytest.fixture
def store(fresh_db: ScratchDb) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(fresh_db.app) as store:
        for stream in ("s-1", "s-2", "s-3"):
            store.append(stream, "T", 0, [NewEvent("E", {"n": n}) for n in range(1, 4)])
            store.append(stream, "T", 3, [NewEvent("E", {"n": n}) for n in range(4, 6)])
        yield store


def tamper(db: ScratchDb, *statements: str) -> None:
    with psycopg.connect(db.superuser) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            conn.execute(statement)


def test_history_as_written_verifies(store: PostgresEventStore) -> None:
    report = store.verify()
    assert report.ok
    assert (report.streams_checked, report.events_checked) == (3, 15)


def test_each_tampering_is_named_at_its_first_broken_event(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    # 1. Changed data.
    tamper(
        fresh_db,
        "UPDATE events SET data = '{\"n\": 999}' WHERE stream_id = 's-1' AND version = 3",
    )
    broken = store.verify("s-1").breaks
    assert [(b.stream_id, b.version) for b in broken] == [("s-1", 3)]
    assert "hash mismatch" in broken[0].reason
    assert [(b.stream_id, b.version) for b in store.verify().breaks] == [("s-1", 3)]

    # 2. A deleted row.
    tamper(fresh_db, "DELETE FROM events WHERE stream_id = 's-2' AND version = 2")
    broken = store.verify("s-2").breaks
    assert [(b.stream_id, b.version) for b in broken] == [("s-2", 3)]
    assert "version 2 is missing" in broken[0].reason

    # 3. Two rows swapped: versions 2 and 4 exchange everything but their version number.
    tamper(
        fresh_db,
        """
        UPDATE events e SET event_type = o.event_type, data = o.data, metadata = o.metadata,
                            hash = o.hash, recorded_at = o.recorded_at
        FROM events o
        WHERE e.stream_id = 's-3' AND o.stream_id = 's-3'
          AND ((e.version = 2 AND o.version = 4) OR (e.version = 4 AND o.version = 2))
        """,
    )
    assert [e.data["n"] for e in store.read_stream("s-3")] == [1, 4, 3, 2, 5]
    broken = store.verify("s-3").breaks
    assert [(b.stream_id, b.version) for b in broken] == [("s-3", 2)]

    report = store.verify()
    assert not report.ok
    assert [(b.stream_id, b.version) for b in report.breaks] == [
        ("s-1", 3),
        ("s-2", 3),
        ("s-3", 2),
    ]


def test_a_forged_hash_does_not_hide_altered_data(
    fresh_db: ScratchDb, store: PostgresEventStore
) -> None:
    # Rewriting one event's hash to match its new content breaks the NEXT event's link.
    original = store.read_stream("s-1")[1]
    forged_data = {"n": 2000}
    previous = store.read_stream("s-1")[0].hash
    forged_hash = expected_hash(previous, replace(original, data=forged_data))
    tamper(
        fresh_db,
        f"UPDATE events SET data = '{{\"n\": 2000}}', hash = '{forged_hash}' "
        "WHERE stream_id = 's-1' AND version = 2",
    )
    broken = store.verify("s-1").breaks
    assert [(b.stream_id, b.version) for b in broken] == [("s-1", 3)]


def test_events_removed_from_a_streams_end_are_caught_by_the_projection(
    fresh_db: ScratchDb,
) -> None:
    with PostgresEventStore(fresh_db.app) as store:
        store.append(
            "saga-1",
            "Order",
            0,
            [
                NewEvent("SagaStarted", {"saga_type": "Order", "definition_version": 1}),
                NewEvent("CommandIssued", {"step": "pay", "attempt": 1}),
                NewEvent("SagaCompleted", {}),
            ],
        )
        assert store.wait_until_readable()
        with PostgresProjector(fresh_db.app) as projector:
            assert projector.catch_up() == 3
        tamper(fresh_db, "DELETE FROM events WHERE stream_id = 'saga-1' AND version = 3")
        report = store.verify()
    assert [(b.stream_id, b.version) for b in report.breaks] == [("saga-1", 3)]
    assert "removed from its end" in report.breaks[0].reason
