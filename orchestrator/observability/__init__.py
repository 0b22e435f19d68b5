"""Observability for the worker and participants: structured logs, Prometheus metrics, the
/metrics /healthz /readyz endpoint, and OpenTelemetry tracing across Kafka headers.

Imports nothing from the saga layer, the event store or the Kafka runtime: they report into
this package, never the other way round.
"""

from orchestrator.observability._health import HealthState, Liveness, Readiness
from orchestrator.observability._http import HttpServer, serve_http
from orchestrator.observability._logging import (
    LogContext,
    LogFormat,
    configure_logging,
    get_logger,
    message_context,
)
from orchestrator.observability._metrics import (
    CacheResult,
    ConsumeOutcome,
    Dependency,
    Metrics,
    default_metrics,
)
from orchestrator.observability._tracing import (
    KafkaHeaders,
    configure_tracing,
    context_from_carrier,
    extract_trace_context,
    inject_trace_context,
    process_span,
    receive_span,
    send_span,
    trace_carrier,
)

__all__ = [
    "CacheResult",
    "ConsumeOutcome",
    "Dependency",
    "HealthState",
    "HttpServer",
    "KafkaHeaders",
    "Liveness",
    "LogContext",
    "LogFormat",
    "Metrics",
    "Readiness",
    "configure_logging",
    "configure_tracing",
    "context_from_carrier",
    "default_metrics",
    "extract_trace_context",
    "get_logger",
    "inject_trace_context",
    "message_context",
    "process_span",
    "receive_span",
    "send_span",
    "serve_http",
    "trace_carrier",
]
