"""read_all never lets a tailing reader skip an event that commits late with a lower position.

A position is taken when a row is inserted, but the row becomes visible when its transaction
commits: paging by position alone, a reader that saw position 3 would move past position 1 of
a transaction still open, and never see it. These tests hold real transactions open to prove
the (transaction id, position) horizon closes that gap.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import psycopg
from psycopg.conninfo import make_conninfo

from event_store import NewEvent, RecordedEvent
from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from event_store.subscription import CatchUpSubscription
from tests.integration.event_store.conftest import CommitGate
from tests.support import Background, ScratchDb, eventually

# The waits for read_all to catch up (`eventually`): another suite's open transaction anywhere
# on the server holds the horizon back for a moment; what must hold at once is only that
# nothing is returned too early.
CATCH_UP_S = 15.0


def wait_read_all(
    store: PostgresEventStore, count: int, *, after: int = 0, timeout: float = CATCH_UP_S
) -> None:
    eventually(
        lambda: len(store.read_all(after, 100)),
        f"read_all after position {after} returns {count} events",
        until=count.__eq__,
        timeout=timeout,
        interval=0.05,
    )


def test_a_later_position_is_withheld_until_the_earlier_transaction_commits(
    clean_db: ScratchDb, commit_gate: CommitGate
) -> None:
    with PostgresEventStore(clean_db.app) as store, PostgresEventStore(clean_db.app) as other:
        commit_gate.close()
        slow = Background.call(
            lambda: store.append("held-1", "T", 0, [NewEvent("Slow", {}), NewEvent("Slow", {})])
        )
        slow.start()
        commit_gate.wait_for_waiters(1)
        fast = other.append("fast-1", "T", 0, [NewEvent("Fast", {})])

        # The scenario is the dangerous one: the committed event has a higher position than
        # rows the open transaction already inserted (their positions were taken first).
        with psycopg.connect(clean_db.superuser, autocommit=True) as conn:
            row = conn.execute("SELECT last_value FROM events_position_seq").fetchone()
        assert row is not None
        assert fast.positions[0] == row[0]
        assert fast.positions[0] > 2

        # A position-only reader would return the fast event now and skip the slow ones.
        assert store.read_all(0, 100) == []

        commit_gate.open()
        slow_result = slow.outcome()
        assert max(slow_result.positions) < fast.positions[0]

        wait_read_all(store, 3)
        seen = store.read_all(0, 100)
        assert [e.event_type for e in seen] == ["Slow", "Slow", "Fast"]


RAW_INSERT = (
    "INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data, "
    "metadata, recorded_at, hash) VALUES (%s, 'T', 1, %s, 1, '{}', '{}', now(), repeat('a', 64))"
)


def test_a_reader_resuming_after_a_higher_position_still_gets_the_lower_one(
    clean_db: ScratchDb,
) -> None:
    # Transaction ids are taken at the first write, positions at each insert: here the OLDER
    # transaction inserts the HIGHER position and commits first, while the newer one, holding
    # the lower position, is still open. A reader that resumes "after position p" would skip
    # the lower position for good; resuming in (transaction id, position) order it cannot.
    with (
        PostgresEventStore(clean_db.app) as store,
        psycopg.connect(clean_db.app) as older,
        psycopg.connect(clean_db.app) as newer,
    ):
        older.execute("SELECT pg_current_xact_id()")  # takes the older transaction id now
        newer.execute(RAW_INSERT, ["newer-1", "Newer"])  # newer id, lower position
        older.execute(RAW_INSERT, ["older-1", "Older"])  # older id, higher position
        older.commit()

        wait_read_all(store, 1)
        (first,) = store.read_all(0, 100)
        assert first.event_type == "Older"

        newer.commit()
        wait_read_all(store, 1, after=first.position)
        (second,) = store.read_all(first.position, 100)
    assert second.event_type == "Newer"
    assert second.position < first.position  # what a position-only reader would have skipped


def test_a_subscription_tailing_busy_writers_misses_nothing(clean_db: ScratchDb) -> None:
    seen: list[RecordedEvent] = []
    written: list[int] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        with PostgresEventStore(clean_db.app) as store:
            for index in range(40):
                result = store.append(
                    f"w{seed}-{index}", "T", 0, [NewEvent("E", {"i": i}) for i in range(3)]
                )
                with lock:
                    written.extend(result.positions)

    with (
        PostgresEventStore(clean_db.app) as reader,
        PostgresCheckpointStore(clean_db.app) as checkpoints,
    ):
        subscription = CatchUpSubscription(
            reader, checkpoints, "tail-test", seen.extend, batch_size=7
        )
        tail = Background(lambda stop: subscription.run(stop, 0.01), name="tail").start()
        writers = [Background.call(partial(writer, seed)).start() for seed in range(4)]
        for thread in writers:
            thread.outcome(90)
        try:
            eventually(
                lambda: len(seen),
                f"the subscription delivered all {len(written)} written",
                until=lambda count: count >= len(written),
                timeout=CATCH_UP_S,
                interval=0.05,
            )
        finally:
            tail.stop(10)
        assert checkpoints.load("tail-test") == seen[-1].position
    positions = [e.position for e in seen]
    assert len(positions) == len(set(positions)), "an event was delivered twice"
    assert sorted(positions) == sorted(written), "an event was skipped"


def test_a_writer_in_another_database_does_not_hold_the_reader_back(
    clean_db: ScratchDb,
) -> None:
    # The horizon counts only transactions that could write to this database's events: a long
    # batch job elsewhere on the server must not stall the outbox relay and the projections.
    with (
        PostgresEventStore(clean_db.app) as store,
        psycopg.connect(make_conninfo(clean_db.superuser, dbname="postgres")) as elsewhere,
    ):
        elsewhere.execute("CREATE TEMP TABLE busy (x int)")
        elsewhere.execute("INSERT INTO busy VALUES (1)")  # a write transaction, left open
        held = elsewhere.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()
        assert held is not None
        assert held[0] is not None
        appended = store.append("s-1", "T", 0, [NewEvent("E", {})])
        wait_read_all(store, 1, timeout=5.0)
        assert [e.position for e in store.read_all(0, 10)] == list(appended.positions)
        elsewhere.rollback()


def test_a_writer_in_this_database_still_holds_the_reader_back(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store, psycopg.connect(clean_db.app) as open_tx:
        open_tx.execute("SELECT pg_current_xact_id()")  # assigns an xid: a possible writer
        store.append("s-2", "T", 0, [NewEvent("E", {})])
        # A wait on purpose: the reader must still be held back after time has passed.
        time.sleep(0.3)
        assert store.read_all(0, 10) == []
        open_tx.rollback()
        wait_read_all(store, 1)
