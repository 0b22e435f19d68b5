"""Fixtures for the codec's integration tests: a migrated database and unique names per run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from event_store.migrations import migrate
from orchestrator.codec import PostgresSchemaRegistryClient
from tests.conftest import PgUrls


@pytest.fixture(scope="session")
def registry_db(pg_urls: PgUrls) -> PgUrls:
    """The database with every migration applied, the schema registry's tables among them."""
    migrate(pg_urls.owner)
    return pg_urls


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
