"""Session fixtures for the real servers. They FAIL (never skip) when a server is unreachable:
an integration run without Kafka or PostgreSQL must be red, not quietly green."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from orchestrator.config import (
    DEFAULT_DATABASE_URL,
    DEFAULT_KAFKA_BOOTSTRAP,
    DEFAULT_OWNER_DATABASE_URL,
)

DEFAULT_SUPERUSER_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:5433/postgres"


@dataclass(frozen=True)
class PgUrls:
    app: str
    owner: str
    superuser: str


@pytest.fixture(scope="session")
def pg_urls() -> PgUrls:
    urls = PgUrls(
        app=os.environ.get("SAGA_DATABASE_URL") or DEFAULT_DATABASE_URL,
        owner=os.environ.get("SAGA_OWNER_DATABASE_URL") or DEFAULT_OWNER_DATABASE_URL,
        superuser=os.environ.get("SAGA_SUPERUSER_DATABASE_URL") or DEFAULT_SUPERUSER_DATABASE_URL,
    )
    for role, url in (("app", urls.app), ("owner", urls.owner), ("superuser", urls.superuser)):
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            pytest.fail(
                f"PostgreSQL ({role} role) is unreachable: {exc}. Run `make up` "
                "or set SAGA_DATABASE_URL / SAGA_OWNER_DATABASE_URL / SAGA_SUPERUSER_DATABASE_URL.",
                pytrace=False,
            )
    return urls


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("SAGA_KAFKA_BOOTSTRAP") or DEFAULT_KAFKA_BOOTSTRAP
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        brokers = admin.list_topics(timeout=10).brokers
    except Exception as exc:  # noqa: BLE001 - reported verbatim below
        pytest.fail(f"Kafka at {bootstrap} is unreachable: {exc}. Run `make up`.", pytrace=False)
    if not brokers:
        pytest.fail(f"Kafka at {bootstrap} reports no brokers. Run `make up`.", pytrace=False)
    return bootstrap
