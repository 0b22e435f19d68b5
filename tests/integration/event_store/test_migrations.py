"""The migration runner against a real server: idempotent, recorded, safe when run twice at
once, and refusing to run when an applied file was edited."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from event_store.migrations import (
    MigrationError,
    MigrationReport,
    load_migrations,
    migrate,
    pending_migrations,
)
from tests.conftest import PgUrls
from tests.support import ScratchDb, scratch_database


@pytest.fixture
def empty_db(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    with scratch_database(pg_urls, migrated=False) as db:
        yield db


def recorded(db: ScratchDb) -> list[tuple[int, str, str]]:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_migrate_applies_every_file_once_and_records_it(empty_db: ScratchDb) -> None:
    files = load_migrations()
    assert [m.version for m in pending_migrations(empty_db.owner)] == [m.version for m in files]
    first = migrate(empty_db.owner, app_role=empty_db.app_role)
    assert [m.version for m in first.applied] == [m.version for m in files]
    assert recorded(empty_db) == [(m.version, m.name, m.checksum) for m in files]
    second = migrate(empty_db.owner, app_role=empty_db.app_role)
    assert second.applied == ()
    assert len(second.already_applied) == len(files)
    assert pending_migrations(empty_db.owner) == []


def test_two_processes_migrating_at_once_take_turns(empty_db: ScratchDb) -> None:
    barrier = threading.Barrier(2)
    reports: list[MigrationReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            reports.append(migrate(empty_db.owner, app_role=empty_db.app_role))
        except BaseException as exc:  # noqa: BLE001 - collected for the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    applied = sorted(m.version for report in reports for m in report.applied)
    assert applied == [m.version for m in load_migrations()]  # each file once, in total
    assert len(recorded(empty_db)) == len(load_migrations())


def copy_of_migrations(directory: Path) -> Path:
    source = resources.files("event_store.migrations")
    for entry in source.iterdir():
        if entry.name.endswith(".sql"):
            with resources.as_file(entry) as path:
                shutil.copy(Path(path), directory / entry.name)
    return directory


def test_an_edited_applied_migration_stops_the_run(empty_db: ScratchDb, tmp_path: Path) -> None:
    directory = copy_of_migrations(tmp_path)
    migrate(empty_db.owner, app_role=empty_db.app_role, directory=directory)
    before = recorded(empty_db)
    edited = directory / "003_projections.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    (directory / "049_new.sql").write_text("CREATE TABLE should_not_exist (x int);")
    with pytest.raises(MigrationError, match=r"003_projections\.sql was changed"):
        migrate(empty_db.owner, app_role=empty_db.app_role, directory=directory)
    with pytest.raises(MigrationError, match="changed"):
        pending_migrations(empty_db.owner, directory=directory)
    assert recorded(empty_db) == before
    with psycopg.connect(empty_db.owner, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('should_not_exist')").fetchone()
    assert row == (None,)


def test_a_failing_migration_leaves_no_trace(empty_db: ScratchDb, tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok_table (x int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (x int); SELECT no_such_col;")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        migrate(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
    assert [r[0] for r in recorded(empty_db)] == [1]
    with psycopg.connect(empty_db.owner, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('half')").fetchone()
    assert row == (None,)


def test_an_unknown_application_role_is_refused(empty_db: ScratchDb) -> None:
    with pytest.raises(MigrationError, match="no_such_role_xyz"):
        migrate(empty_db.owner, app_role="no_such_role_xyz")


def test_newer_migrations_in_the_database_are_reported(empty_db: ScratchDb, tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "002_b.sql").write_text("SELECT 1;")
    migrate(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
    (tmp_path / "002_b.sql").unlink()  # an older release, facing a database migrated further
    report = migrate(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
    assert report.unknown == (2,)
