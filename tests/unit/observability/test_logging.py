from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from orchestrator.observability import configure_logging, get_logger, message_context


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_message_context() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    with message_context(topic="saga.replies", partition=3, offset=42, message_id="m-1") as ctx:
        ctx.bind(saga_id="s-9")
        get_logger("orchestrator.worker").info("step completed", step="reserve")
    [line] = _lines(out)
    assert line["event"] == "step completed"
    assert line["level"] == "info"
    assert line["logger"] == "orchestrator.worker"
    assert line["step"] == "reserve"
    assert (line["topic"], line["partition"], line["offset"]) == ("saga.replies", 3, 42)
    assert (line["message_id"], line["saga_id"]) == ("m-1", "s-9")
    assert str(line["timestamp"]).endswith("Z")


def test_stdlib_records_are_rendered_with_the_same_context() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    with message_context(topic="t", partition=0, offset=7, saga_id="s-1"):
        logging.getLogger("psycopg.pool").warning("connection lost: %s", "reset by peer")
    [line] = _lines(out)
    assert line["event"] == "connection lost: reset by peer"
    assert line["logger"] == "psycopg.pool"
    assert line["level"] == "warning"
    assert (line["saga_id"], line["offset"]) == ("s-1", 7)


def test_context_is_unbound_after_the_message_including_late_binds() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    with message_context(topic="t", partition=1, offset=1) as ctx:
        ctx.bind(saga_id="s-1")
    get_logger("x").info("between batches")
    [line] = _lines(out)
    assert not {"topic", "partition", "offset", "saga_id"} & line.keys()


def test_configuring_twice_does_not_duplicate_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    configure_logging("info", "json", stream=second)
    get_logger("x").info("once")
    logging.getLogger("y").info("once too")
    assert first.getvalue() == ""
    assert [line["event"] for line in _lines(second)] == ["once", "once too"]


def test_reconfiguring_switches_format_for_an_already_used_logger() -> None:
    log = get_logger("x")
    configure_logging("info", "json", stream=io.StringIO())
    log.info("warm the cache")
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    log.info("now for humans", saga_id="s-1")
    text = out.getvalue()
    assert "now for humans" in text
    assert "saga_id=s-1" in text
    assert not text.lstrip().startswith("{")


def test_level_filters_both_structlog_and_stdlib() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    get_logger("x").info("dropped")
    logging.getLogger("confluent_kafka").info("dropped too")
    get_logger("x").error("kept")
    assert [line["event"] for line in _lines(out)] == ["kept"]


def test_exceptions_stay_on_one_json_line() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)

    def fail() -> None:
        raise RuntimeError("boom")

    try:
        fail()
    except RuntimeError:
        get_logger("x").exception("handler failed")
    [line] = _lines(out)
    exception = line["exception"]
    assert isinstance(exception, list)
    assert exception[0]["exc_type"] == "RuntimeError"


def test_lines_inside_a_span_carry_its_trace_ids() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        get_logger("x").info("traced")
    [line] = _lines(out)
    ctx = span.get_span_context()
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")


def test_unknown_level_or_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("verbose", "json")
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("info", "xml")  # type: ignore[arg-type]  # on purpose: refused at runtime


def test_auto_format_is_json_outside_a_terminal_and_console_on_one() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped = io.StringIO()
    configure_logging("info", "auto", stream=piped)
    get_logger("t").info("piped")
    assert json.loads(piped.getvalue())["event"] == "piped"
    terminal = Terminal()
    configure_logging("info", "auto", stream=terminal)
    get_logger("t").info("seen")
    assert "seen" in terminal.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(terminal.getvalue())
