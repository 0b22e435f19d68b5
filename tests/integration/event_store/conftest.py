"""Private databases for the event-store tests, and a gate that holds appends at COMMIT.

Every database here is a `tests.support.scratch_database` (created, migrated, dropped at the
end), so tamper, verify-all and rebuild tests never see another suite's rows (nor leave theirs
behind).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import PgUrls
from tests.support import ScratchDb, eventually, scratch_database


@pytest.fixture(scope="module")
def module_db(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    """One migrated database for a test module; see `clean_db` for a clean slate per test."""
    with scratch_database(pg_urls, prefix="es_test") as db:
        yield db


def wipe(db: ScratchDb) -> None:
    """Empty every table. Only the superuser can, and only with triggers off (replica mode)."""
    with psycopg.connect(db.superuser, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "TRUNCATE events, saga_instances, timers, subscription_checkpoints RESTART IDENTITY"
        )


@pytest.fixture
def clean_db(module_db: ScratchDb) -> ScratchDb:
    wipe(module_db)
    return module_db


@pytest.fixture
def fresh_db(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    """A database of this test's own (tampering tests, migrations, rebuild)."""
    with scratch_database(pg_urls, prefix="es_test") as db:
        yield db


GATE_KEY = 0x6A7E


class CommitGate:
    """While closed, an append to a stream named `held-*` blocks inside its COMMIT.

    A deferred constraint trigger runs at COMMIT, after the rows were inserted and before the
    transaction is durable, and waits for a shared advisory lock that the gate holds
    exclusively. So a test can hold a real store transaction open at exactly that point.
    """

    def __init__(self, db: ScratchDb) -> None:
        self._db = db
        self._holder: psycopg.Connection[Any] | None = None

    def install(self) -> None:
        with psycopg.connect(self._db.superuser, autocommit=True) as conn:
            conn.execute(
                f"""
                CREATE OR REPLACE FUNCTION test_commit_gate() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_advisory_xact_lock_shared({GATE_KEY});
                    RETURN NULL;
                END;
                $$;
                DROP TRIGGER IF EXISTS test_commit_gate ON events;
                CREATE CONSTRAINT TRIGGER test_commit_gate AFTER INSERT ON events
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                    WHEN (NEW.stream_id LIKE 'held-%')
                    EXECUTE FUNCTION test_commit_gate();
                """
            )

    def uninstall(self) -> None:
        self.open()
        with psycopg.connect(self._db.superuser, autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS test_commit_gate ON events")
            conn.execute("DROP FUNCTION IF EXISTS test_commit_gate()")

    def close(self) -> None:
        self._holder = psycopg.connect(self._db.superuser, autocommit=True)
        self._holder.execute("SELECT pg_advisory_lock(%s)", [GATE_KEY])

    def open(self) -> None:
        if self._holder is not None:
            self._holder.close()  # ends the session, releasing its lock
            self._holder = None

    def waiting_pids(self) -> list[int]:
        with psycopg.connect(self._db.superuser, autocommit=True) as conn:
            rows = conn.execute(
                """
                SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND l.objid = %s AND NOT l.granted
                  AND d.datname = %s
                ORDER BY l.pid
                """,
                [GATE_KEY, self._db.name],
            ).fetchall()
        return [int(row[0]) for row in rows]

    def wait_for_waiters(
        self, count: int, timeout: float = 15.0, *, other_than: frozenset[int] = frozenset()
    ) -> list[int]:
        return eventually(
            lambda: [pid for pid in self.waiting_pids() if pid not in other_than],
            f"{count} append(s) held at COMMIT (pids of the waiters)",
            until=lambda pids: len(pids) >= count,
            timeout=timeout,
            interval=0.02,
        )


@pytest.fixture
def commit_gate(clean_db: ScratchDb) -> Iterator[CommitGate]:
    gate = CommitGate(clean_db)
    gate.install()
    try:
        yield gate
    finally:
        gate.uninstall()
