"""Versioned plain-SQL migrations and their runner: the store's own tables (`NNN_name.sql`
beside this file), and whatever folders the layers above pass to `migrate`."""

from event_store.migrations._runner import (
    MIGRATION_LOCK_KEY,
    MIGRATIONS,
    Folders,
    Migration,
    MigrationError,
    MigrationReport,
    load_migrations,
    migrate,
    pending_migrations,
)

__all__ = [
    "MIGRATIONS",
    "MIGRATION_LOCK_KEY",
    "Folders",
    "Migration",
    "MigrationError",
    "MigrationReport",
    "load_migrations",
    "migrate",
    "pending_migrations",
]
