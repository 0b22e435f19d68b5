"""The observability endpoint over a real socket (127.0.0.1, a free port); no Kafka needed."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.observability import HealthState, HttpServer, Metrics, serve_http


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> HealthState:
    return HealthState(liveness_threshold_seconds=10, clock=clock)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def server(metrics: Metrics, health: HealthState) -> Iterator[HttpServer]:
    with serve_http(0, metrics.registry, health, host="127.0.0.1") as running:
        yield running


def _get(server: HttpServer, path: str, accept: str | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Accept": accept} if accept else {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def test_port_zero_binds_a_real_port(server: HttpServer) -> None:
    assert server.port > 0


def test_metrics_serves_current_samples(server: HttpServer, metrics: Metrics) -> None:
    metrics.messages_consumed.labels(topic="saga.start", outcome="dead_lettered").inc(2)
    status, content_type, body = _get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert b'saga_messages_consumed_total{outcome="dead_lettered",topic="saga.start"} 2.0' in body


def test_metrics_speaks_openmetrics_when_asked(server: HttpServer) -> None:
    status, content_type, body = _get(
        server, "/metrics", accept="application/openmetrics-text; version=1.0.0"
    )
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_healthz_turns_503_when_the_loop_stops_beating(
    server: HttpServer, health: HealthState, clock: FakeClock
) -> None:
    assert _get(server, "/healthz")[0] == 200
    clock.now = 11
    status, _, body = _get(server, "/healthz")
    assert status == 503
    assert json.loads(body)["status"] == "stalled"
    health.beat()
    assert _get(server, "/healthz")[0] == 200


def test_readyz_names_what_is_missing_until_everything_is_up(
    server: HttpServer, health: HealthState
) -> None:
    status, content_type, body = _get(server, "/readyz")
    assert (status, content_type) == (503, "application/json")
    assert json.loads(body)["missing"] == ["kafka", "postgres", "partitions"]
    health.set_kafka(True)
    health.set_postgres(True)
    assert json.loads(_get(server, "/readyz")[2])["missing"] == ["partitions"]
    health.set_assigned_partitions(3)
    status, _, body = _get(server, "/readyz")
    assert status == 200
    assert json.loads(body) == {"status": "ready"}


def test_unknown_paths_are_404(server: HttpServer) -> None:
    assert _get(server, "/")[0] == 404


def test_close_releases_the_port(metrics: Metrics, health: HealthState) -> None:
    running = serve_http(0, metrics.registry, health, host="127.0.0.1")
    port = running.port
    running.close()
    with serve_http(port, metrics.registry, health, host="127.0.0.1") as again:
        assert _get(again, "/healthz")[0] == 200
