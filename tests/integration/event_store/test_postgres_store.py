"""The PostgreSQL store against the shared contract, plus what only a real server can show:
racing writers, and payloads surviving the trip through jsonb with their chain intact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store import ConcurrencyError, EventStore, NewEvent, StreamAppend
from event_store.postgres import PostgresEventStore
from tests.event_store_contract import MAX_PAYLOAD, EventStoreContract
from tests.integration.event_store.conftest import CommitGate, wipe
from tests.support import Background, ScratchDb, eventually


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, clean_db: ScratchDb) -> Iterator[EventStore]:
        with PostgresEventStore(clean_db.app, max_payload_bytes=MAX_PAYLOAD) as store:
            yield store

    def settle(self, store: EventStore) -> None:
        assert isinstance(store, PostgresEventStore)
        assert store.wait_until_readable(), "another transaction held read_all back for 30 s"


@pytest.fixture
def pg_store(clean_db: ScratchDb) -> Iterator[PostgresEventStore]:
    with PostgresEventStore(clean_db.app) as store:
        yield store


def wait_until_blocked_on_a_transaction(db: ScratchDb, timeout: float = 15.0) -> None:
    """Until some session of `db` waits for another transaction (here: on the unique index)."""
    with psycopg.connect(db.superuser, autocommit=True) as conn:

        def waiting() -> int:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'",
                [db.name],
            ).fetchone()
            return 0 if row is None else int(row[0])

        eventually(
            waiting,
            "a session waiting on the racing insert (sessions waiting)",
            until=lambda count: count > 0,
            timeout=timeout,
            interval=0.02,
        )


def test_a_writer_that_loses_the_race_gets_a_conflict(
    clean_db: ScratchDb, commit_gate: CommitGate, pg_store: PostgresEventStore
) -> None:
    # The winner has inserted version 1 and waits in COMMIT; the loser's head check cannot see
    # it yet, so the loser inserts version 1 too and waits on the unique index. When the winner
    # commits, the loser's insert fails, its transaction is re-run, and it reports a conflict.
    commit_gate.close()
    winner = Background.call(lambda: pg_store.append("held-1", "T", 0, [NewEvent("Won", {})]))
    winner.start()
    commit_gate.wait_for_waiters(1)
    with PostgresEventStore(clean_db.app) as other:
        loser = Background.call(
            lambda: other.append_batch(
                [
                    StreamAppend("held-1", "T", 0, [NewEvent("Lost", {})]),
                    StreamAppend("bystander", "T", 0, [NewEvent("Fine", {})]),
                ]
            )
        )
        loser.start()
        wait_until_blocked_on_a_transaction(clean_db)
        commit_gate.open()
        assert winner.outcome().last_version == 1
        result = loser.outcome()
    assert set(result.appended) == {"bystander"}
    conflict = result.conflicts["held-1"]
    assert (conflict.expected_version, conflict.actual_version) == (0, 1)
    assert [e.event_type for e in pg_store.read_stream("held-1")] == ["Won"]
    assert pg_store.verify().ok


def test_many_writers_on_few_streams_never_fork_a_chain(
    clean_db: ScratchDb, pg_store: PostgresEventStore
) -> None:
    streams = [f"hot-{i}" for i in range(3)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        with PostgresEventStore(clean_db.app) as store:
            barrier.wait()
            for round_ in range(25):
                # Overlapping batches in different orders: the sorted insert order must keep
                # them from deadlocking, and the unique key from forking any stream.
                chosen = streams[seed % 3 :] + streams[: seed % 3]
                batch = [
                    StreamAppend(s, "T", store.stream_version(s), [NewEvent("E", {"w": seed})])
                    for s in chosen[: 1 + (round_ % 3)]
                ]
                try:
                    store.append_batch(batch)
                except ConcurrencyError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - collected for the assert below
                    errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for stream in streams:
        versions = [e.version for e in pg_store.read_stream(stream)]
        assert versions == list(range(1, len(versions) + 1))
    assert pg_store.verify().ok


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))
)
json_data: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=8),
    st.recursive(
        json_leaf,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=4).filter(lambda k: "\x00" not in k), children)
        ),
        max_leaves=15,
    ),
    max_size=5,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=json_data)
def test_any_json_payload_round_trips_and_keeps_its_chain(
    module_db: ScratchDb, data: dict[str, Any]
) -> None:
    wipe(module_db)
    with PostgresEventStore(module_db.app) as store:
        store.append("s-1", "T", 0, [NewEvent("A", data, metadata={"nested": data})])
        (event,) = store.read_stream("s-1")
        assert store.verify().ok, data
    # The stored form is the canonical one: integral floats read back as integers.
    assert event.data == data
