"""The package's public surface and its import boundary."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrator import observability

PACKAGE_DIR = Path(observability.__file__).parent
FORBIDDEN = ("orchestrator.saga", "event_store", "orchestrator.runtime", "orchestrator.worker")


def test_public_api_is_pinned() -> None:
    assert sorted(observability.__all__) == [
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
        "TRACING_VARIABLES",
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
    for name in observability.__all__:
        assert getattr(observability, name) is not None


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def test_observability_imports_nothing_from_the_saga_store_or_worker_layers() -> None:
    modules = sorted(PACKAGE_DIR.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        offending = {
            name
            for name in _imported_modules(path)
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
            or name.startswith("confluent_kafka")
        }
        assert not offending, f"{path.name} imports {sorted(offending)}"
