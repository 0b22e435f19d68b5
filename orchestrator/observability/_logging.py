"""Structured logging: structlog in front, stdlib logging routed through the same renderer.

Libraries log through stdlib `logging` (confluent-kafka's `logger` config, psycopg, tenacity);
one `ProcessorFormatter` on the root handler renders their records and ours alike, so a JSON
log line from psycopg carries the same `saga_id`/`topic`/`offset` keys the worker bound.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace

# "auto": JSON unless the stream is a terminal (a person reading), where console lines read better.
LogFormat = Literal["console", "json", "auto"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _SagaLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we own, so a second `configure_logging` replaces it (never doubles
    lines) and leaves handlers others installed (pytest's caplog, an APM agent) alone."""


def _add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Trace/span ids in every line let a log search jump to the trace and back.
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure_logging(level: str, fmt: LogFormat, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one handler on `stream` (stderr by default).

    Safe to call again (tests, a CLI that reconfigures after parsing options): the previous
    handler installed here is replaced, not duplicated.
    """
    try:
        numeric_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {sorted(_LEVELS)}") from None
    if fmt not in ("console", "json", "auto"):
        raise ValueError(f"unknown log format {fmt!r}; use 'console', 'json' or 'auto'")
    target = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "console" if _is_terminal(target) else "json"

    # Runs for structlog calls and, as foreign_pre_chain, for stdlib records.
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        # One line per event: Kubernetes log collectors split on newlines, so tracebacks
        # travel as structured data inside the line.
        final: list[structlog.typing.Processor] = [
            structlog.processors.StackInfoRenderer(),
            structlog.processors.dict_tracebacks,
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        final = [structlog.processors.StackInfoRenderer()]

    handler = _SagaLogHandler(target)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *final,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _SagaLogHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Rendering lives in the handler, so a cached logger still follows a later
        # reconfiguration of format or stream; caching only skips re-assembling the chain.
        cache_logger_on_first_use=True,
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger backed by the stdlib logger `name`."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


class LogContext:
    """Handle yielded by `message_context`: binds keys learnt mid-message (the saga id is
    known only after decoding) and unbinds them when the message's scope ends."""

    def __init__(self) -> None:
        self._tokens: list[Mapping[str, contextvars.Token[Any]]] = []

    def bind(self, **values: object) -> None:
        self._tokens.append(structlog.contextvars.bind_contextvars(**values))

    def bind_saga(
        self,
        *,
        saga_id: str | None = None,
        saga_type: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Bind the saga coordinates that are known (None leaves a key out, never null)."""
        values = {"saga_id": saga_id, "saga_type": saga_type, "step": step, "attempt": attempt}
        known = {key: value for key, value in values.items() if value is not None}
        if known:
            self.bind(**known)

    def bind_span(self, span: trace.Span) -> None:
        """Bind the trace and span id of the span handling this message. Explicit, because that
        span is not always the current one: the worker decides a batch under one span while
        each message has its own."""
        ctx = span.get_span_context()
        if ctx.is_valid:
            self.bind(trace_id=format(ctx.trace_id, "032x"), span_id=format(ctx.span_id, "016x"))

    def _reset(self) -> None:
        # Reverse order: a key bound twice must end up at its value before the first bind.
        while self._tokens:
            structlog.contextvars.reset_contextvars(**self._tokens.pop())


@contextmanager
def message_context(
    *,
    topic: str,
    partition: int,
    offset: int,
    message_id: str | None = None,
    saga_id: str | None = None,
) -> Iterator[LogContext]:
    """Bind one Kafka message's coordinates to every log line (ours and libraries') in scope.

    contextvars, not a bound logger, so a psycopg warning raised while appending this message's
    events names the message too. Unset ids are left out rather than logged as null; bind them
    later with the yielded `LogContext`. Everything is unbound on exit, so nothing leaks into
    the next message.
    """
    values: dict[str, object] = {"topic": topic, "partition": partition, "offset": offset}
    if message_id is not None:
        values["message_id"] = message_id
    if saga_id is not None:
        values["saga_id"] = saga_id
    scope = LogContext()
    scope.bind(**values)
    try:
        yield scope
    finally:
        scope._reset()
