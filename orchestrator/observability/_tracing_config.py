"""Turning tracing on and off with the standard OpenTelemetry variables.

Off unless asked for: with no OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or its _TRACES_ twin)
and no explicit OTEL_TRACES_EXPORTER, no SDK tracer provider is installed. The API's no-op
tracer then makes every span helper cost a few attribute dicts: no span objects, no export
thread, no ids generated. A traceparent a message arrives with still travels on (the no-op
span carries its parent's context), so a traced caller's trace survives an untraced hop.

When on, the SDK reads the rest of the standard variables itself: OTEL_EXPORTER_OTLP_* (endpoint,
headers, TLS, timeout, protocol), OTEL_BSP_* (the batch processor's queue and delay),
OTEL_TRACES_SAMPLER(_ARG), OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME. The one default of
our own: without OTEL_TRACES_SAMPLER, root spans are sampled at 10% (parent-based, so a saga's
trace is whole or absent) instead of the SDK's 100%, which a busy worker should not pay for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Final

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Tracer

from orchestrator.observability._logging import get_logger

_log = get_logger(__name__)

INSTRUMENTATION_NAME: Final = "saga-orchestrator"
# The root sampling ratio when OTEL_TRACES_SAMPLER is unset (see the module docstring).
DEFAULT_ROOT_SAMPLE_RATIO: Final = 0.1
# The standard variables this package (or the SDK on its behalf) reads; deployment files may set
# them beside the SAGA_* ones (tests/unit/test_compose.py checks against this list).
TRACING_VARIABLES: Final = frozenset(
    {
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_EXPORTER",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    }
)


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for spans to be exported (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters == ["none"]:
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip():
        return True
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing(
    service_name: str, exporter: SpanExporter | None = None, *, exact_name: bool = False
) -> TracerProvider | None:
    """The process's tracer provider for `service_name`, or None when tracing is off.

    With `exporter` (tests) spans go there, whatever the environment says; otherwise to the
    exporters OTEL_TRACES_EXPORTER names (default `otlp`). OTEL_SERVICE_NAME renames the service
    unless `exact_name` (a process running several participant services names each itself).
    The first provider built is installed as the global one; later ones (one per service in a
    multi-service process) are not: pass `provider.get_tracer(...)` to the component.
    """
    if exporter is None and not tracing_requested():
        return None
    resource = Resource.create({"service.name": service_name})
    if not exact_name:
        # The environment's service.name (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins.
        resource = resource.merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource, sampler=_default_sampler())
    exporters = [exporter] if exporter is not None else _exporters_from_env()
    for chosen in exporters:
        # Batching keeps export off the hot path; the provider flushes at interpreter exit.
        provider.add_span_processor(BatchSpanProcessor(chosen))
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def tracer_of(provider: TracerProvider | None) -> Tracer:
    """The tracer components are given: the provider's, or the global (no-op when off)."""
    if provider is None:
        return trace.get_tracer(INSTRUMENTATION_NAME)
    return provider.get_tracer(INSTRUMENTATION_NAME)


def active_tracer(tracer: Tracer | None) -> Tracer | None:
    """The tracer a component should use, or None while tracing is off: `tracer` if given,
    else the global one if an SDK provider is installed. Components skip all span work on
    None, so tracing off costs nothing, not even the no-op spans' header parsing."""
    if tracer is not None:
        return tracer
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return trace.get_tracer(INSTRUMENTATION_NAME)
    return None


def flush_tracing(timeout_ms: int = 10_000) -> None:
    """Export what the global provider still holds (a short-lived command, before it reads its
    own trace back); nothing to do while tracing is off."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_ms)


def _default_sampler() -> Sampler | None:
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None  # the SDK builds the sampler the variables describe
    return ParentBased(TraceIdRatioBased(DEFAULT_ROOT_SAMPLE_RATIO))


def _exporter_names(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "") or "otlp"
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _exporters_from_env() -> list[SpanExporter]:
    chosen: list[SpanExporter] = []
    for name in _exporter_names(os.environ):
        if name == "console":
            chosen.append(ConsoleSpanExporter())
        elif name == "otlp":
            otlp = _otlp_exporter_from_env()
            if otlp is not None:
                chosen.append(otlp)
        elif name != "none":
            _log.warning("unknown OTEL_TRACES_EXPORTER entry ignored", exporter=name)
    return chosen


def _otlp_exporter_from_env() -> SpanExporter | None:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint and not os.environ.get("OTEL_TRACES_EXPORTER"):
        return None
    # The spec's default protocol is http/protobuf; "grpc" selects the gRPC exporter. Imported
    # only when asked for: the gRPC one pulls in grpcio.
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    kind = "grpc" if protocol == "grpc" else "http"
    module_name = f"opentelemetry.exporter.otlp.proto.{kind}.trace_exporter"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        _log.warning(
            "an OTLP endpoint is set but the OTLP exporter is not installed; "
            "spans will not be exported (pip install opentelemetry-exporter-otlp)",
            endpoint=endpoint,
            module=module_name,
        )
        return None
    instance = module.OTLPSpanExporter()  # reads endpoint, headers, TLS from OTEL_* env
    if not isinstance(instance, SpanExporter):
        raise TypeError(f"{module_name}.OTLPSpanExporter is not a SpanExporter")
    return instance
