"""Private databases for the event-store tests, and a gate that holds appends at COMMIT.

Every database here is created by the superuser, owned by the owner role, migrated by the real
runner as the owner, and dropped at the end, so tamper, verify-all and rebuild tests never see
another suite's rows (nor leave theirs behind).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.database import migrate
from tests.conftest import PgUrls


@dataclass(frozen=True)
class ScratchDb:
    name: str
    app: str
    owner: str
    superuser: str
    app_role: str
    owner_role: str


def _user(conninfo: str) -> str:
    return str(conninfo_to_dict(conninfo).get("user") or "")


@contextmanager
def scratch_database(pg_urls: PgUrls, *, migrated: bool = True) -> Iterator[ScratchDb]:
    name = f"es_test_{uuid.uuid4().hex[:12]}"
    db = ScratchDb(
        name=name,
        app=make_conninfo(pg_urls.app, dbname=name),
        owner=make_conninfo(pg_urls.owner, dbname=name),
        superuser=make_conninfo(pg_urls.superuser, dbname=name),
        app_role=_user(pg_urls.app),
        owner_role=_user(pg_urls.owner),
    )
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(db.owner_role)
            )
        )
    try:
        if migrated:
            migrate(db.owner, app_role=db.app_role)
        yield db
    finally:
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def module_db(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    """One migrated database for a test module; see `clean_db` for a clean slate per test."""
    with scratch_database(pg_urls) as db:
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
    with scratch_database(pg_urls) as db:
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
        deadline = time.monotonic() + timeout
        pids: list[int] = []
        while time.monotonic() < deadline:
            pids = [pid for pid in self.waiting_pids() if pid not in other_than]
            if len(pids) >= count:
                return pids
            time.sleep(0.02)
        raise AssertionError(f"expected {count} append(s) held at COMMIT, saw {pids}")


@pytest.fixture
def commit_gate(clean_db: ScratchDb) -> Iterator[CommitGate]:
    gate = CommitGate(clean_db)
    gate.install()
    try:
        yield gate
    finally:
        gate.uninstall()


class Background(threading.Thread):
    """Runs a call in a thread and keeps its result or exception for the test to check."""

    def __init__(self, target: Any) -> None:
        super().__init__(daemon=True)
        self._call = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which re-raises
            self.error = exc

    def outcome(self, timeout: float = 30.0) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the background call did not finish"
        if self.error is not None:
            raise self.error
        return self.result
