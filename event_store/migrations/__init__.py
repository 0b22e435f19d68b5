"""Versioned plain-SQL migrations (`NNN_name.sql` beside this file) and their runner."""

from event_store.migrations._runner import (
    MIGRATION_LOCK_KEY,
    Migration,
    MigrationError,
    MigrationReport,
    load_migrations,
    migrate,
    pending_migrations,
)

__all__ = [
    "MIGRATION_LOCK_KEY",
    "Migration",
    "MigrationError",
    "MigrationReport",
    "load_migrations",
    "migrate",
    "pending_migrations",
]
