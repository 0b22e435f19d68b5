"""A schema registry HTTP server of a test's own, on a free port, over a given database.

`launched_registry` starts it the way `make up` does (`.devstack/stack.py`'s `launch_registry`,
a `sagactl registry serve` process); `in_process_registry` runs the same server in a thread,
for settings `make up` does not pass, such as basic auth.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.codec import RegistryHttpServer
from tests.integration.test_devstack import load_stack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def launched_registry(database_url: str, home: Path) -> Iterator[str]:
    """The URL of a `sagactl registry serve` process, stopped (SIGTERM) on exit."""
    stack = load_stack()
    port = free_port()
    process = stack.launch_registry(home, "127.0.0.1", port, database_url)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_for_registry(url, process.pid, home / "registry.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def in_process_registry(database_url: str, *, basic_auth: str | None = None) -> Iterator[str]:
    server = RegistryHttpServer(database_url, ("127.0.0.1", 0), basic_auth=basic_auth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
