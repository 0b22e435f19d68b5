"""Tracing is configured by the standard OTEL_* variables, and is off (no SDK, no thread)
unless they ask for it."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.observability import configure_tracing, tracing_requested
from orchestrator.observability._tracing_config import TRACING_VARIABLES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TRACING_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_tracing_is_off_without_otel_variables() -> None:
    threads_before = {thread.ident for thread in threading.enumerate()}
    provider_before = trace.get_tracer_provider()
    assert configure_tracing("saga-worker") is None
    # Nothing installed, no export thread started.
    assert trace.get_tracer_provider() is provider_before
    assert {thread.ident for thread in threading.enumerate()} == threads_before


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, True),
    ],
)
def test_which_environments_turn_tracing_on(environment: dict[str, str], expected: bool) -> None:
    assert tracing_requested(environment) is expected


def test_the_default_sampler_keeps_a_tenth_of_the_roots_and_follows_parents() -> None:
    provider = configure_tracing("saga-worker", InMemorySpanExporter())
    assert provider is not None
    description = provider.sampler.get_description()
    assert description.startswith("ParentBased{root:TraceIdRatioBased{0.1}")
    provider.shutdown()


def test_otel_traces_sampler_replaces_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    provider = configure_tracing("saga-worker", InMemorySpanExporter())
    assert provider is not None
    assert provider.sampler.get_description().startswith("ParentBased{root:AlwaysOnSampler")
    provider.shutdown()


def test_otel_service_name_renames_a_service_unless_the_name_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "orders-worker")
    renamed = configure_tracing("saga-worker", InMemorySpanExporter())
    exact = configure_tracing("participant-credit", InMemorySpanExporter(), exact_name=True)
    assert renamed is not None
    assert exact is not None
    assert renamed.resource.attributes["service.name"] == "orders-worker"
    assert exact.resource.attributes["service.name"] == "participant-credit"
    renamed.shutdown()
    exact.shutdown()


def test_an_otlp_endpoint_builds_the_http_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = configure_tracing("saga-worker")
    assert provider is not None
    processors = provider._active_span_processor._span_processors
    exporters = [type(p.span_exporter).__module__ for p in processors]  # type: ignore[attr-defined]
    assert exporters == ["opentelemetry.exporter.otlp.proto.http.trace_exporter"]
    provider.shutdown()
