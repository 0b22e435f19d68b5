"""Fixtures for the codec's integration tests: a private database and unique names per run."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from event_store.migrations import migrate
from orchestrator.codec import MIGRATIONS, PostgresSchemaRegistryClient
from tests.conftest import PgUrls

MIGRATION = "050_schema_registry.sql"


def _on_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def registry_db(pg_urls: PgUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgUrls]:
    """A database of its own with the registry's migration applied by the real runner.

    Private, so these tests neither see nor disturb what other suites do to the shared
    database; dropped at the end of the session.
    """
    database = f"saga_codec_{uuid.uuid4().hex[:10]}"
    owner = urlsplit(pg_urls.owner).username or ""
    app_role = urlsplit(pg_urls.app).username or ""
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
    urls = PgUrls(
        app=_on_database(pg_urls.app, database),
        owner=_on_database(pg_urls.owner, database),
        superuser=pg_urls.superuser,
    )
    directory = tmp_path_factory.mktemp("registry-migration")
    source = MIGRATIONS / MIGRATION
    with resources.as_file(source) as path:
        shutil.copy(Path(path), directory / MIGRATION)
    try:
        migrate(urls.owner, app_role, directory=directory)
        yield urls
    finally:
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


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
