"""The command-log contract: what the outbox relay tails (`CommandLog.read_type`), one suite for
the PostgreSQL store (tests/integration/runtime/test_postgres_ports.py) and the in-memory twin
over `read_all` (tests/unit/runtime/test_memory_ports.py)."""

from __future__ import annotations

import pytest

from event_store import EventStore, NewEvent
from orchestrator.runtime import CommandLog


class CommandLogContract:
    """Abstract: `log` yields an EMPTY store and the command log over it."""

    @pytest.fixture
    def log(self) -> tuple[EventStore, CommandLog]:
        raise NotImplementedError

    def settle(self, store: EventStore) -> None:
        """Make everything written so far readable (PostgreSQL: past older transactions)."""

    def test_only_the_asked_types_and_a_resume_point_at_the_head(
        self, log: tuple[EventStore, CommandLog]
    ) -> None:
        store, commands = log
        store.append("s-1", "T", 0, [NewEvent("SagaStarted", {}), NewEvent("CommandIssued", {})])
        store.append("s-2", "T", 0, [NewEvent("TimerScheduled", {}), NewEvent("Other", {})])
        self.settle(store)
        events, resume = commands.read_type(0, ["CommandIssued"], 100)
        assert [(e.stream_id, e.event_type) for e in events] == [("s-1", "CommandIssued")]
        # Nothing of that type follows: the resume point is the head of the log.
        assert resume == max(e.position for e in store.read_all(0, 100))
        assert commands.read_type(resume, ["CommandIssued"], 100) == ([], resume)

    def test_a_full_page_resumes_after_its_last_event(
        self, log: tuple[EventStore, CommandLog]
    ) -> None:
        store, commands = log
        for i in range(3):
            store.append(f"c-{i}", "T", 0, [NewEvent("CommandIssued", {}), NewEvent("X", {})])
        self.settle(store)
        page, resume = commands.read_type(0, ["CommandIssued"], 2)
        assert [e.stream_id for e in page] == ["c-0", "c-1"]
        assert resume == page[-1].position
        rest, _ = commands.read_type(resume, ["CommandIssued"], 2)
        assert [e.stream_id for e in rest] == ["c-2"]

    def test_an_empty_log_resumes_where_it_was_asked(
        self, log: tuple[EventStore, CommandLog]
    ) -> None:
        _store, commands = log
        assert commands.read_type(0, ["CommandIssued"], 10) == ([], 0)

    def test_several_types_come_in_log_order(self, log: tuple[EventStore, CommandLog]) -> None:
        store, commands = log
        store.append("a", "T", 0, [NewEvent("A", {}), NewEvent("B", {}), NewEvent("C", {})])
        self.settle(store)
        events, _ = commands.read_type(0, ["C", "A"], 10)
        assert [e.event_type for e in events] == ["A", "C"]
