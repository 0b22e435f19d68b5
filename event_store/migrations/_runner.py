"""Applies versioned plain-SQL files, in numeric order, exactly once.

The files beside this module create the store's own tables (events, subscription checkpoints);
the layers above ship theirs in folders of their own (the saga read models, the built-in schema
registry), and `migrate` takes any number of folders: versions are one numbering across all of
them, recorded in one `schema_migrations` table (orchestrator.database lists the folders).

Files are named `NNN_name.sql`. Each pending file runs in its own transaction together with the
row that records it (version, name, SHA-256 of its bytes), so a file is either applied and
recorded or neither. A session advisory lock makes concurrent runs (two pods starting at once)
take turns: the second waits, then finds nothing left to do. An applied file whose bytes have
changed stops the run before anything is applied: history must be migrated forward by new
files, never by editing old ones.

Each file runs with the transaction-local setting `saga.app_role` holding the application
role's name, so a file grants privileges with
`EXECUTE format('GRANT ... TO %I', current_setting('saga.app_role'))`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import psycopg

from event_store import advisory_locks
from event_store._model import EventStoreError

# Arbitrary but fixed: the key every migrating process locks. Part of the deployment contract.
MIGRATION_LOCK_KEY = advisory_locks.MIGRATIONS

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(EventStoreError):
    """The migrations cannot be applied as they are; nothing was applied."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    checksum: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: tuple[Migration, ...]
    already_applied: tuple[Migration, ...]
    # Versions recorded in the database that this code does not ship (a newer release ran).
    unknown: tuple[int, ...]


# The folders `migrate` reads: one, several, or (None) the store's own.
Folders = Path | Traversable | Sequence[Path | Traversable] | None

# The store's own migrations: its tables, and nothing of the layers above it.
MIGRATIONS: Traversable = resources.files("event_store.migrations")


def _entries(directory: Folders) -> Iterator[Path | Traversable]:
    if directory is None:
        folders: Sequence[Path | Traversable] = [MIGRATIONS]
    elif isinstance(directory, Path | Traversable):
        folders = [directory]
    else:
        folders = directory
    for folder in folders:
        yield from folder.iterdir()


def load_migrations(directory: Folders = None) -> list[Migration]:
    """The migration files of every folder, in version order (versions are unique across
    folders); `directory` defaults to the store's own."""
    found: dict[int, Migration] = {}
    for entry in _entries(directory):
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        raw = entry.read_bytes()
        migration = Migration(
            version=int(match.group(1)),
            name=match.group(2),
            checksum=hashlib.sha256(raw).hexdigest(),
            sql=raw.decode("utf-8"),
        )
        if migration.version in found:
            raise MigrationError(
                f"two migration files share version {migration.version:03d}: "
                f"{found[migration.version].name} and {migration.name}"
            )
        found[migration.version] = migration
    return [found[version] for version in sorted(found)]


def _recorded(conn: psycopg.Connection[Any]) -> dict[int, str]:
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {int(str(version)): str(checksum) for version, checksum in rows}


def _check_checksums(files: Iterable[Migration], recorded: dict[int, str]) -> None:
    for migration in files:
        stored = recorded.get(migration.version)
        if stored is not None and stored != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:03d}_{migration.name}.sql was changed after it "
                f"was applied (recorded sha256 {stored[:12]}..., file {migration.checksum[:12]}"
                "...); add a new migration instead of editing an applied one"
            )


def pending_migrations(owner_conninfo: str, *, directory: Folders = None) -> list[Migration]:
    """What `migrate` would apply now (read-only; the `--dry-run` of `sagactl db migrate`)."""
    files = load_migrations(directory)
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        recorded = _recorded(conn) if exists and exists[0] else {}
    _check_checksums(files, recorded)
    return [migration for migration in files if migration.version not in recorded]


def migrate(
    owner_conninfo: str,
    app_role: str = "saga",
    *,
    directory: Folders = None,
) -> MigrationReport:
    """Apply every pending migration as the owner role, granting `app_role` what it needs."""
    files = load_migrations(directory)
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role]).fetchone()
        if role is None:
            raise MigrationError(f"the application role {app_role!r} does not exist; create it")
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        try:
            conn.execute(_CREATE_TABLE)
            recorded = _recorded(conn)
            _check_checksums(files, recorded)
            applied: list[Migration] = []
            for migration in files:
                if migration.version in recorded:
                    continue
                with conn.transaction():
                    conn.execute("SELECT set_config('saga.app_role', %s, true)", [app_role])
                    conn.execute(migration.sql.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        [migration.version, migration.name, migration.checksum],
                    )
                applied.append(migration)
        finally:
            # A broken connection has already dropped its session lock.
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
    shipped = {migration.version for migration in files}
    return MigrationReport(
        applied=tuple(applied),
        already_applied=tuple(m for m in files if m.version in recorded),
        unknown=tuple(sorted(set(recorded) - shipped)),
    )
