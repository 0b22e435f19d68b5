"""The dev stack's refusal paths, run for real: a port held by something that is not Kafka."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import Background

STACK = Path(__file__).resolve().parents[2] / ".devstack" / "stack.py"


def load_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("devstack_stack", STACK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["devstack_stack"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def squatter() -> Iterator[tuple[int, threading.Event]]:
    """A TCP server that accepts connections and never speaks Kafka."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve(stop: threading.Event) -> None:
        server.settimeout(0.2)
        held = []
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue
        for conn in held:
            conn.close()
        server.close()

    serving = Background(serve, name="squatter").start()
    yield server.getsockname()[1], serving.stop_event
    serving.stop(5)


def test_up_refuses_a_kafka_port_held_by_something_else(
    squatter: tuple[int, threading.Event], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = load_stack()
    monkeypatch.setattr(
        stack, "RUN", tmp_path
    )  # keep this test away from the real stack's pid files
    port, _ = squatter
    settings = stack.Settings(
        database_url="unused",
        owner_database_url="unused",
        superuser_database_url="unused",
        kafka_bootstrap=f"127.0.0.1:{port}",
        database_url_is_default=True,
        kafka_bootstrap_is_default=True,
    )
    started = time.monotonic()
    with pytest.raises(stack.StackError, match=f"port {port} is in use by something that is not"):
        stack.kafka_up(settings)
    assert time.monotonic() - started < 60
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_up_refuses_a_named_broker_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = load_stack()
    monkeypatch.setattr(stack, "RUN", tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    settings = stack.Settings(
        database_url="unused",
        owner_database_url="unused",
        superuser_database_url="unused",
        kafka_bootstrap=f"127.0.0.1:{free_port}",
        database_url_is_default=True,
        kafka_bootstrap_is_default=False,
    )
    with pytest.raises(stack.StackError, match=r"SAGA_KAFKA_BOOTSTRAP=.* does not answer"):
        stack.kafka_up(settings)
