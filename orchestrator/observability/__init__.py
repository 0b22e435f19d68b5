"""Observability for the worker and participants: structured logs, Prometheus metrics, the
/metrics /healthz /readyz endpoint, and OpenTelemetry tracing across Kafka headers.

Imports nothing from the saga layer, the event store or the Kafka runtime: they report into
this package, never the other way round.
"""

from orchestrator.observability._health import HealthState, Liveness, Readiness
from orchestrator.observability._http import HttpServer, serve_http
from orchestrator.observability._jaeger import (
    JaegerQuery,
    JaegerSpan,
    JaegerTrace,
    JaegerUnavailableError,
)
from orchestrator.observability._logging import (
    LogContext,
    LogFormat,
    configure_logging,
    get_logger,
    message_context,
)
from orchestrator.observability._message_spans import MessageSpans
from orchestrator.observability._metrics import (
    CacheResult,
    ConsumeOutcome,
    Dependency,
    Metrics,
    default_metrics,
)
from orchestrator.observability._tracing import (
    KafkaHeaders,
    context_from_carrier,
    decide_span,
    extract_trace_context,
    inject_trace_context,
    receive_span,
    record_dead_letter,
    record_redrive,
    saga_attributes,
    send_span,
    start_process_span,
    stored_trace_send,
    trace_carrier,
    traceparent_of,
)
from orchestrator.observability._tracing_config import (
    TRACING_VARIABLES,
    active_tracer,
    configure_tracing,
    flush_tracing,
    tracer_of,
    tracing_requested,
)

__all__ = [
    "TRACING_VARIABLES",
    "CacheResult",
    "ConsumeOutcome",
    "Dependency",
    "HealthState",
    "HttpServer",
    "JaegerQuery",
    "JaegerSpan",
    "JaegerTrace",
    "JaegerUnavailableError",
    "KafkaHeaders",
    "Liveness",
    "LogContext",
    "LogFormat",
    "MessageSpans",
    "Metrics",
    "Readiness",
    "active_tracer",
    "configure_logging",
    "configure_tracing",
    "context_from_carrier",
    "decide_span",
    "default_metrics",
    "extract_trace_context",
    "flush_tracing",
    "get_logger",
    "inject_trace_context",
    "message_context",
    "receive_span",
    "record_dead_letter",
    "record_redrive",
    "saga_attributes",
    "send_span",
    "serve_http",
    "start_process_span",
    "stored_trace_send",
    "trace_carrier",
    "traceparent_of",
    "tracer_of",
    "tracing_requested",
]
