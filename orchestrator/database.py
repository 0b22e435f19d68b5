"""The whole database schema of saga-orchestrator: the migration folders of every layer, in
one numbering, applied by `sagactl db migrate`.

Versions kept their numbers when their files moved to the layer that owns their tables (the
files are byte for byte those a database already recorded): 001-002 the event store's own
tables, 003 and 051 the saga read models, 050 the built-in schema registry. A database
migrated before the move therefore has nothing to apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.abc import Traversable

from event_store import migrations as store_migrations
from event_store.migrations import Migration, MigrationError, MigrationReport
from orchestrator.codec import MIGRATIONS as REGISTRY_MIGRATIONS
from orchestrator.projections import MIGRATIONS as READ_MODEL_MIGRATIONS

__all__ = [
    "MIGRATION_FOLDERS",
    "Migration",
    "MigrationError",
    "MigrationReport",
    "load_migrations",
    "migrate",
    "pending_migrations",
]

MIGRATION_FOLDERS: Sequence[Traversable] = (
    store_migrations.MIGRATIONS,
    READ_MODEL_MIGRATIONS,
    REGISTRY_MIGRATIONS,
)


def load_migrations() -> list[Migration]:
    """Every migration file of every layer, in version order."""
    return store_migrations.load_migrations(MIGRATION_FOLDERS)


def pending_migrations(owner_conninfo: str) -> list[Migration]:
    """What `migrate` would apply now (read-only: `sagactl db migrate --dry-run`)."""
    return store_migrations.pending_migrations(owner_conninfo, directory=MIGRATION_FOLDERS)


def migrate(owner_conninfo: str, app_role: str = "saga") -> MigrationReport:
    """Apply every pending migration of every layer as the owner role."""
    return store_migrations.migrate(owner_conninfo, app_role, directory=MIGRATION_FOLDERS)
