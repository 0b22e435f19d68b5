"""Fixtures for the codec's integration tests: a private database and unique names per run."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from event_store.migrations import migrate
from orchestrator.codec import PostgresSchemaRegistryClient
from tests.conftest import PgUrls
from tests.support import scratch_database

MIGRATION = "050_schema_registry.sql"


@pytest.fixture(scope="session")
def registry_db(pg_urls: PgUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgUrls]:
    """A database of its own with the registry's migration applied by the real runner.

    Private, so these tests neither see nor disturb what other suites do to the shared
    database; dropped at the end of the session.
    """
    directory = tmp_path_factory.mktemp("registry-migration")
    source = resources.files("event_store.migrations") / MIGRATION
    with resources.as_file(source) as path:
        shutil.copy(Path(path), directory / MIGRATION)
    with scratch_database(pg_urls, prefix="saga_codec", migrated=False) as db:
        migrate(db.owner, db.app_role, directory=directory)
        yield PgUrls(app=db.app, owner=db.owner, superuser=pg_urls.superuser)


@pytest.fixture
def pg_registry(registry_db: PgUrls) -> Iterator[PostgresSchemaRegistryClient]:
    """The built-in registry as workers use it: connected as the application role."""
    client = PostgresSchemaRegistryClient(registry_db.app)
    yield client
    client.close()


@pytest.fixture
def unique() -> str:
    """A token that keeps this test's topics and subjects apart from every other run's."""
    return uuid.uuid4().hex[:12]
