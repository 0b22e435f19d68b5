"""Fixtures: the registry served over HTTP, on a private database (see tests/integration/codec)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PgUrls
from tests.integration.codec.conftest import registry_db, unique
from tests.integration.registry.server import in_process_registry, launched_registry

__all__ = ["authed_registry", "registry_db", "registry_url", "unique"]

CREDENTIALS = "saga-test:s3cret-for-registry"


@pytest.fixture(scope="session")
def registry_url(registry_db: PgUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sagactl registry serve`, started as `make up` starts it, over the private database."""
    with launched_registry(registry_db.app, tmp_path_factory.mktemp("registry")) as url:
        yield url


@pytest.fixture(scope="session")
def authed_registry(registry_db: PgUrls) -> Iterator[str]:
    """The same server requiring CREDENTIALS of every request."""
    with in_process_registry(registry_db.app, basic_auth=CREDENTIALS) as url:
        yield url
