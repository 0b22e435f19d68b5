"""The worker tests' private worlds (own database, topics, groups), and the local Jaeger.

Jaeger is the one `make up` runs (query API at SAGA_JAEGER_URL, default
http://127.0.0.1:16686; OTLP/HTTP at SAGA_JAEGER_OTLP_ENDPOINT, default port 4318 of the same
host). Like Kafka and PostgreSQL, a Jaeger that does not answer fails the test, never skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from orchestrator.observability import JaegerQuery
from tests.integration.worker.conftest import make_world, world

__all__ = ["JaegerTarget", "jaeger", "make_world", "world"]


@dataclass(frozen=True)
class JaegerTarget:
    query: JaegerQuery
    otlp_endpoint: str  # OTLP/HTTP base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it


@pytest.fixture(scope="session")
def jaeger() -> JaegerTarget:
    url = (os.environ.get("SAGA_JAEGER_URL") or "http://127.0.0.1:16686").rstrip("/")
    host = urlsplit(url).hostname or "127.0.0.1"
    otlp = os.environ.get("SAGA_JAEGER_OTLP_ENDPOINT") or f"http://{host}:4318"
    query = JaegerQuery(url)
    try:
        query.trace("0" * 31 + "1")
    except Exception as exc:  # noqa: BLE001 - reported verbatim below
        pytest.fail(f"Jaeger at {url} is unreachable: {exc}. Run `make up`.", pytrace=False)
    return JaegerTarget(query, otlp.rstrip("/"))
