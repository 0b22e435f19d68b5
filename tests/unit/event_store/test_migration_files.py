"""The packaged migration files: named, numbered and checksummed as the runner expects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from event_store.migrations import MigrationError, load_migrations
from orchestrator.database import load_migrations as load_every_layers_migrations


def test_the_store_ships_only_its_own_tables() -> None:
    assert [m.name for m in load_migrations()] == ["events", "subscription_checkpoints"]


def test_packaged_migrations_load_in_order() -> None:
    migrations = load_every_layers_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert [m.name for m in migrations][:3] == ["events", "subscription_checkpoints", "projections"]
    assert all(m.version < 50 for m in migrations[:3])


def test_checksums_are_sha256_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("SELECT 1;\n")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "2_bad_name.sql").write_text("ignored: not NNN_")
    (migration,) = load_migrations(tmp_path)
    assert migration.checksum == hashlib.sha256(b"SELECT 1;\n").hexdigest()


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="001"):
        load_migrations(tmp_path)
