"""`sagactl db migrate | verify | rebuild` against a private database, through click."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner, Result

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from orchestrator.cli._db import db
from tests.conftest import PgUrls
from tests.support import ScratchDb, scratch_database


def run(database: ScratchDb, *args: str) -> Result:
    env = {"SAGA_DATABASE_URL": database.app, "SAGA_OWNER_DATABASE_URL": database.owner}
    return CliRunner().invoke(db, list(args), env=env)


def test_migrate_then_migrate_again(pg_urls: PgUrls) -> None:
    with scratch_database(pg_urls, migrated=False) as database:
        dry = run(database, "migrate", "--dry-run", "--output", "json")
        assert dry.exit_code == 0, dry.stderr
        pending = json.loads(dry.stdout)["migrations"]
        assert {m["state"] for m in pending} == {"pending"}
        assert "nothing applied" in dry.stderr

        first = run(database, "migrate", "--output", "json")
        assert first.exit_code == 0, first.stderr
        data = json.loads(first.stdout)
        assert data["app_role"] == database.app_role
        assert [m["version"] for m in data["migrations"]] == [m["version"] for m in pending]
        assert {m["state"] for m in data["migrations"]} == {"applied"}

        again = run(database, "migrate")
        assert again.exit_code == 0
        assert "already applied" in again.stdout
        assert "0 migration(s) applied" in again.stderr


def test_verify_reports_intact_chains_and_fails_on_a_broken_one(fresh_db: ScratchDb) -> None:
    with PostgresEventStore(fresh_db.app) as store:
        store.append("s-1", "T", 0, [NewEvent("A", {"n": 1}), NewEvent("B", {"n": 2})])
        store.append("s-2", "T", 0, [NewEvent("A", {"n": 1})])
    ok = run(fresh_db, "verify", "--output", "json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout) == {
        "ok": True,
        "scope": "all",
        "streams_checked": 2,
        "events_checked": 3,
        "breaks": [],
    }
    assert "chains intact" in run(fresh_db, "verify", "--stream", "s-1").stdout

    with psycopg.connect(fresh_db.superuser) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE events SET data = '{\"n\": 7}' WHERE stream_id = 's-1' AND version = 2"
        )
    broken = run(fresh_db, "verify", "--output", "json")
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert [(b["stream_id"], b["version"]) for b in report["breaks"]] == [("s-1", 2)]
    assert "s-1 version 2" in broken.stderr

    table = run(fresh_db, "verify", "--stream", "s-1")
    assert table.exit_code == 1
    assert "s-1" in table.stdout
    assert "hash mismatch" in table.stdout
    assert run(fresh_db, "verify", "--stream", "s-2").exit_code == 0


def test_rebuild_and_its_dry_run(fresh_db: ScratchDb) -> None:
    with PostgresEventStore(fresh_db.app) as store:
        store.append("saga-1", "Order", 0, [NewEvent("SagaStarted", {"saga_type": "Order"})])
    dry = run(fresh_db, "rebuild", "--dry-run", "--output", "json")
    assert dry.exit_code == 0, dry.stderr
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True
    assert data["events_replayed"] == 1
    assert data["tables"]["saga_instances"]["added"] == 1
    assert "rolled back" in dry.stderr
    with psycopg.connect(fresh_db.owner, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM saga_instances").fetchone() == (0,)

    real = run(fresh_db, "rebuild")
    assert real.exit_code == 0, real.stderr
    assert "saga_instances" in real.stdout
    with psycopg.connect(fresh_db.owner, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM saga_instances").fetchone() == (1,)
    again = json.loads(run(fresh_db, "rebuild", "--output", "json").stdout)
    assert again["tables"]["saga_instances"]["identical"] is True


@pytest.mark.parametrize("command", [["verify"], ["migrate"], ["rebuild", "--dry-run"]])
def test_an_unreachable_database_exits_3(command: list[str]) -> None:
    nowhere = "postgresql://saga:saga@127.0.0.1:1/saga?connect_timeout=2"
    env = {"SAGA_DATABASE_URL": nowhere, "SAGA_OWNER_DATABASE_URL": nowhere}
    result = CliRunner().invoke(db, command, env=env)
    assert result.exit_code == 3
    assert "unreachable" in result.stderr
