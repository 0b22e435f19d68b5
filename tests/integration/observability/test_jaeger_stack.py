"""The local stack's Jaeger, run for real: .devstack/stack.py's launcher on ports of this test's
own, OTLP in, the query API out, every listener on 127.0.0.1, memory bounded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from orchestrator.observability import JaegerQuery
from tests.integration.test_devstack import load_stack


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.fixture
def stack() -> ModuleType:
    return load_stack()


@pytest.fixture
def own_jaeger(stack: ModuleType, tmp_path: Path) -> Iterator[tuple[Any, subprocess.Popen[bytes]]]:
    """A Jaeger of this test's own, from the binary `make up` builds."""
    ports = stack.JaegerPorts(*_free_ports(4))
    process = stack.launch_jaeger(tmp_path / "jaeger", ports)
    try:
        stack.wait_for_jaeger(ports, process.pid, tmp_path / "jaeger" / "jaeger.log")
        yield ports, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


def test_jaeger_takes_otlp_and_answers_the_query_api(
    own_jaeger: tuple[Any, subprocess.Popen[bytes]], stack: ModuleType
) -> None:
    ports, _ = own_jaeger
    provider = TracerProvider(resource=Resource.create({"service.name": "stack-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{ports.otlp_endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent, tracer.start_as_current_span("child"):
        pass
    provider.shutdown()
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    found = JaegerQuery(ports.query_url).wait_for(
        trace_id, lambda trace: len(trace.spans) == 2, within_s=30
    )
    assert found is not None, "the span never reached Jaeger"
    assert found.services == {"stack-test"}
    [root] = found.roots()
    assert root.operation == "parent"
    assert [child.operation for child in found.children(root.span_id)] == ["child"]
    assert stack.jaeger_answers(ports.query_url)
    # Built from the Go module: the query API, and in place of the UI its placeholder page
    # (the UI's assets are a JavaScript build the module does not carry).
    assert not JaegerQuery(ports.query_url).serves_ui()


def test_jaeger_listens_on_loopback_only_with_bounded_memory(
    own_jaeger: tuple[Any, subprocess.Popen[bytes]],
) -> None:
    ports, process = own_jaeger
    listening = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    own = [line.split()[3] for line in listening if f"pid={process.pid}," in line]
    assert {int(address.rsplit(":", 1)[1]) for address in own} == {
        ports.query,
        ports.query_grpc,
        ports.otlp_grpc,
        ports.otlp_http,
    }
    assert all(address.startswith("127.0.0.1:") for address in own), own
    environment = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    assert b"GOMEMLIMIT=320MiB" in environment
    time.sleep(1.0)
    status = Path(f"/proc/{process.pid}/status").read_text()
    rss_kb = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    assert rss_kb < 200 * 1024, f"idle Jaeger holds {rss_kb / 1024:.0f} MB"


def test_a_missing_binary_is_one_clear_error(stack: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(stack.StackError, match="make up"):
        stack.launch_jaeger(tmp_path, stack.JaegerPorts(), binary=tmp_path / "no-jaeger")
