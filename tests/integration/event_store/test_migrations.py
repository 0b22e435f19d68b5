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

from event_store.migrations import MigrationError, MigrationReport
from event_store.migrations import migrate as migrate_folders
from event_store.migrations import pending_migrations as pending_in_folders
from orchestrator.database import MIGRATION_FOLDERS, load_migrations, migrate, pending_migrations
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
    for source in MIGRATION_FOLDERS:
        for entry in source.iterdir():
            if entry.name.endswith(".sql"):
                with resources.as_file(entry) as path:
                    shutil.copy(Path(path), directory / entry.name)
    return directory


# What the release before the read models moved to the saga layer (335513e) recorded in
# schema_migrations: the files moved folders, byte for byte, under the same versions.
RECORDED_BY_335513E = [
    (1, "events", "99455572b8e76415adb65f1c8a0a2a5b9338ef9771a31ce9ce37160f6cb3aa6c"),
    (
        2,
        "subscription_checkpoints",
        "eed3e213bc26b4ffd2ffc7dd6fd30b349ded78e98aec4f44bf696733a92f4e23",
    ),
    (3, "projections", "12bb4570c908793a34a738dba56dcd02bb272517600b4f386b8fdbbbcf5b6060"),
    (50, "schema_registry", "ed9bbcebc8cfdd90986053a59fae9c3f73f3f511df4affc6b430e20c29bfab3a"),
    (51, "saga_list_indexes", "21a75406195f6904807ed52bf63359ef3e7e72f7712b98041d37735ad3d6a0b7"),
]


def test_a_database_migrated_before_the_move_has_nothing_to_apply(empty_db: ScratchDb) -> None:
    assert [(m.version, m.name, m.checksum) for m in load_migrations()] == RECORDED_BY_335513E
    # The event store's own folder alone first (as a store-only deployment would), then all.
    own = migrate_folders(empty_db.owner, app_role=empty_db.app_role)
    assert [m.version for m in own.applied] == [1, 2]
    rest = migrate(empty_db.owner, app_role=empty_db.app_role)
    assert [m.version for m in rest.applied] == [3, 50, 51]
    assert recorded(empty_db) == RECORDED_BY_335513E
    again = migrate(empty_db.owner, app_role=empty_db.app_role)
    assert again.applied == ()
    assert again.unknown == ()


def test_an_edited_applied_migration_stops_the_run(empty_db: ScratchDb, tmp_path: Path) -> None:
    directory = copy_of_migrations(tmp_path)
    migrate_folders(empty_db.owner, app_role=empty_db.app_role, directory=directory)
    before = recorded(empty_db)
    edited = directory / "003_projections.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    (directory / "049_new.sql").write_text("CREATE TABLE should_not_exist (x int);")
    with pytest.raises(MigrationError, match=r"003_projections\.sql was changed"):
        migrate_folders(empty_db.owner, app_role=empty_db.app_role, directory=directory)
    with pytest.raises(MigrationError, match="changed"):
        pending_in_folders(empty_db.owner, directory=directory)
    assert recorded(empty_db) == before
    with psycopg.connect(empty_db.owner, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('should_not_exist')").fetchone()
    assert row == (None,)


def test_a_failing_migration_leaves_no_trace(empty_db: ScratchDb, tmp_path: Path) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok_table (x int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (x int); SELECT no_such_col;")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        migrate_folders(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
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
    migrate_folders(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
    (tmp_path / "002_b.sql").unlink()  # an older release, facing a database migrated further
    report = migrate_folders(empty_db.owner, app_role=empty_db.app_role, directory=tmp_path)
    assert report.unknown == (2,)
