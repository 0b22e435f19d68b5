"""Invariant 2: no UPDATE, DELETE or TRUNCATE of events succeeds, for the application role or
the owner. Privileges are the first wall; the triggers are the second, and hold even for a
role whose privileges would allow the change (the owner re-granting itself, the superuser)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from tests.support import ScratchDb

STATEMENTS = {
    "UPDATE": "UPDATE events SET data = '{\"forged\": true}'",
    "DELETE": "DELETE FROM events",
    "TRUNCATE": "TRUNCATE events",
}


@pytest.fixture
def history(clean_db: ScratchDb) -> ScratchDb:
    with PostgresEventStore(clean_db.app) as store:
        store.append("s-1", "T", 0, [NewEvent("A", {"n": 1}), NewEvent("B", {"n": 2})])
    return clean_db


def unchanged(db: ScratchDb) -> None:
    with PostgresEventStore(db.app) as store:
        events = store.read_stream("s-1")
        assert [e.data for e in events] == [{"n": 1}, {"n": 2}]
        assert store.verify().ok


@pytest.mark.parametrize("operation", sorted(STATEMENTS))
def test_the_application_role_is_refused(history: ScratchDb, operation: str) -> None:
    with (
        psycopg.connect(history.app, autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute(STATEMENTS[operation])
    unchanged(history)


@pytest.mark.parametrize("operation", sorted(STATEMENTS))
def test_the_owner_is_refused(history: ScratchDb, operation: str) -> None:
    with (
        psycopg.connect(history.owner, autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute(STATEMENTS[operation])
    unchanged(history)


@pytest.mark.parametrize("operation", sorted(STATEMENTS))
def test_the_owner_granting_itself_the_privilege_still_meets_the_trigger(
    history: ScratchDb, operation: str
) -> None:
    with psycopg.connect(history.owner) as conn:
        conn.execute(f"GRANT {operation} ON events TO {history.owner_role}")
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
            conn.execute(STATEMENTS[operation])
        conn.rollback()
    unchanged(history)


@pytest.mark.parametrize("operation", sorted(STATEMENTS))
def test_even_the_superuser_meets_the_trigger(history: ScratchDb, operation: str) -> None:
    with (
        psycopg.connect(history.superuser, autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(STATEMENTS[operation])
    unchanged(history)


def test_the_application_role_may_only_insert_and_select(history: ScratchDb) -> None:
    with psycopg.connect(history.superuser, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'events' AND grantee = %s ORDER BY 1",
            [history.app_role],
        ).fetchall()
    assert [row[0] for row in rows] == ["INSERT", "SELECT"]
