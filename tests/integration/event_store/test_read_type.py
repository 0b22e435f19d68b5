"""The outbox relay's tail: only the events of the asked types, gap-safe, with a resume point
that moves past unrelated events but never past a transaction that may still commit."""

from __future__ import annotations

import psycopg

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from tests.support import ScratchDb, eventually


def test_only_the_asked_types_and_a_resume_point_past_the_rest(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store:
        store.append("s-1", "T", 0, [NewEvent("SagaStarted", {}), NewEvent("CommandIssued", {})])
        store.append("s-2", "T", 0, [NewEvent("TimerScheduled", {}), NewEvent("Other", {})])
        assert store.wait_until_readable(10)
        events, resume = store.read_type(0, ["CommandIssued"], 100)
        assert [(e.stream_id, e.event_type) for e in events] == [("s-1", "CommandIssued")]
        # Nothing of that type follows: the resume point is the head of the log.
        assert resume == max(e.position for e in store.read_all(0, 100))
        again, same = store.read_type(resume, ["CommandIssued"], 100)
        assert (again, same) == ([], resume)


def test_a_full_page_resumes_after_its_last_event(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store:
        for i in range(3):
            store.append(f"c-{i}", "T", 0, [NewEvent("CommandIssued", {}), NewEvent("X", {})])
        assert store.wait_until_readable(10)
        page, resume = store.read_type(0, ["CommandIssued"], 2)
        assert len(page) == 2
        assert resume == page[-1].position
        rest, _ = store.read_type(resume, ["CommandIssued"], 2)
        assert [e.stream_id for e in rest] == ["c-2"]


def test_the_resume_point_never_passes_an_open_writer(clean_db: ScratchDb) -> None:
    with PostgresEventStore(clean_db.app) as store, psycopg.connect(clean_db.app) as open_tx:
        open_tx.execute("SELECT pg_current_xact_id()")  # a writer of this database, still open
        store.append("late", "T", 0, [NewEvent("CommandIssued", {})])
        events, resume = store.read_type(0, ["CommandIssued"], 100)
        assert (events, resume) == ([], 0)
        open_tx.rollback()
        eventually(
            lambda: len(store.read_type(0, ["CommandIssued"], 100)[0]),
            "read_type returns the late command once its writer is gone",
            until=(1).__eq__,
            timeout=15.0,
        )
