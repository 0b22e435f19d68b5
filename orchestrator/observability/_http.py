"""The worker's HTTP side door: /metrics, /healthz, /readyz, on the stdlib only.

A daemon-threaded `ThreadingHTTPServer`: a slow scrape never blocks a probe, and the server
never keeps a finishing worker alive. The handlers only read state, so they need no access to
the worker's objects beyond the registry and the `HealthState`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from orchestrator.observability._health import HealthState
from orchestrator.observability._logging import get_logger

_log = get_logger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Rebinding right after a restart must not fail on a socket in TIME_WAIT.
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], registry: CollectorRegistry, health: HealthState
    ) -> None:
        super().__init__(address, _Handler)
        self.registry = registry
        self.health = health


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Probes and scrapers speak HTTP/1.1 keep-alive; Content-Length is always sent.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # http.server dispatches on this exact name
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._healthz()
        elif path == "/readyz":
            self._readyz()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _metrics(self) -> None:
        # Prometheus asks for OpenMetrics in Accept when it can read it; honour that.
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        self._send(HTTPStatus.OK, encoder(self.server.registry), content_type)

    def _healthz(self) -> None:
        live = self.server.health.liveness()
        body = {
            "status": "alive" if live.alive else "stalled",
            "seconds_since_beat": round(live.seconds_since_beat, 3),
            "threshold_seconds": live.threshold_seconds,
        }
        status = HTTPStatus.OK if live.alive else HTTPStatus.SERVICE_UNAVAILABLE
        self._send_json(status, body)

    def _readyz(self) -> None:
        ready = self.server.health.readiness()
        if ready.ready:
            self._send_json(HTTPStatus.OK, {"status": "ready"})
        else:
            self._send_json(
                HTTPStatus.SERVICE_UNAVAILABLE,
                {"status": "not ready", "missing": list(ready.missing)},
            )

    def _send_json(self, status: HTTPStatus, body: Mapping[str, object]) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # base class's signature
        # Probes hit every few seconds: access lines go to debug, not to the info log.
        _log.debug("http request", client=self.client_address[0], line=format % args)


class HttpServer:
    """A running observability endpoint; `port` is the bound port (useful with port 0)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the socket; waits for the serving thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_http(
    port: int,
    registry: CollectorRegistry,
    health: HealthState,
    *,
    host: str = "0.0.0.0",  # noqa: S104 - in a pod, the kubelet and Prometheus come from outside
) -> HttpServer:
    """Serve /metrics, /healthz and /readyz on a daemon thread and return at once.

    Port 0 binds a free port (read it back from `.port`). Binding errors (port taken) raise
    here, in the caller's thread, rather than dying silently in the background.
    """
    server = _Server((host, port), registry, health)
    thread = threading.Thread(
        target=server.serve_forever,
        # shutdown() waits up to one poll interval; 0.1 s keeps a worker's exit prompt.
        kwargs={"poll_interval": 0.1},
        name=f"observability-http:{port}",
        daemon=True,
    )
    thread.start()
    _log.info("observability endpoint listening", host=host, port=server.server_address[1])
    return HttpServer(server, thread)
