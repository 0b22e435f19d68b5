"""`sagactl saga show|state|diff`: a saga's timeline, its typed state at any point, and what
changed between two points, all from the event store alone (orchestrator.forensics).

Exit codes as everywhere in sagactl: 0 ok; 1 a problem found (no such saga, a history this
deployment cannot replay); 2 bad usage (a version beyond the stream's end, an instant before
the saga's start or without UTC offset, contradictory options); 3 PostgreSQL unreachable.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import psycopg
import pydantic

from event_store import RecordedEvent
from event_store.postgres import PostgresEventStore
from orchestrator.cli._output import (
    EXIT_PROBLEM,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    emit,
    fail,
    first_line,
    output_option,
)
from orchestrator.cli._reach import Needs, require_postgres, requires
from orchestrator.cli._saga import _saga_id_argument
from orchestrator.cli._types import Instant
from orchestrator.config import Settings
from orchestrator.forensics import (
    TIMELINE_COLUMNS,
    History,
    PointError,
    build_timeline,
    describe,
    diff,
    flatten,
    render_html,
    render_mermaid,
    state_at,
)
from orchestrator.runtime import load_sagas
from orchestrator.saga import RegistryError, ReplayError, SagaRegistry


def _history(saga_id: str) -> tuple[SagaRegistry, list[RecordedEvent]]:
    """The registry of the deployed sagas, and the saga's whole stream (read once: every
    point is then chosen in memory)."""
    settings = Settings.from_env()
    # No App: show, state and diff need no codec, so they touch neither Kafka nor a registry.
    registry = SagaRegistry(load_sagas(settings.sagas))
    require_postgres(settings.database_url)
    store = PostgresEventStore(settings.database_url)
    try:
        recorded = store.read_stream(saga_id)
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL unreachable: {exc}", EXIT_UNREACHABLE) from None
    finally:
        store.close()
    if not recorded:
        raise fail(f"no events for saga {saga_id}", EXIT_PROBLEM)
    return registry, recorded


@contextlib.contextmanager
def _replaying(saga_id: str) -> Iterator[None]:
    """A point outside the stream is bad usage; a history that does not fold is a finding."""
    try:
        yield
    except PointError as exc:
        raise fail(f"saga {saga_id}: {exc}", EXIT_USAGE) from None
    except (RegistryError, ReplayError, pydantic.ValidationError) as exc:
        # An event the deployed models refuse is a finding about the history; any other error
        # is a bug of ours and must not pass for one (main() reports it as exit 4).
        raise fail(
            f"saga {saga_id} cannot be replayed here: {first_line(exc)}", EXIT_PROBLEM
        ) from None


def _write(text: str, out: Path | None, what: str) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_USAGE) from None
    click.echo(f"wrote {what} to {out}", err=True)


_out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)


@click.command()
@_saga_id_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "mermaid", "html"]),
    default="table",
    show_default=True,
    help="table (or JSON with --output json), a Mermaid sequence diagram, or one "
    "self-contained HTML file with an SVG timeline.",
)
@output_option
@_out_option
@requires(Needs.DATABASE)
def show(saga_id: str, fmt: str, output: str, out: Path | None) -> None:
    """The saga's timeline: every event, the step, attempt, message and trace it concerns."""
    if output == "json" and fmt != "table":
        raise fail(f"--output json applies to --format table, not --format {fmt}", EXIT_USAGE)
    _, recorded = _history(saga_id)
    with _replaying(saga_id):
        text = show_text(recorded, fmt, output)
    _write(text, out, f"the timeline of {len(recorded)} events")


@click.command()
@_saga_id_argument
@click.option("--at-version", type=click.IntRange(min=1), help="State after this stream version.")
@click.option(
    "--at-time", type=Instant(), help="State from the events recorded at or before this instant."
)
@output_option
@requires(Needs.DATABASE)
def state(saga_id: str, at_version: int | None, at_time: datetime | None, output: str) -> None:
    """The saga's full typed state (business fields, lifecycle, steps) at a point, by replay.

    Without --at-version or --at-time: the state after the last event."""
    if at_version is not None and at_time is not None:
        raise fail("give --at-version or --at-time, not both", EXIT_USAGE)
    registry, recorded = _history(saga_id)
    with _replaying(saga_id):
        text, note = state_text(registry, recorded, at_version, at_time, output)
    if note:
        click.echo(note, err=True)
    click.echo(text, nl=False)


@click.command("diff")
@_saga_id_argument
@click.option("--from", "from_version", type=click.IntRange(min=1), help="Earlier stream version.")
@click.option("--to", "to_version", type=click.IntRange(min=1), help="Later stream version.")
@click.option("--from-time", type=Instant(), help="Earlier point: the events recorded by then.")
@click.option("--to-time", type=Instant(), help="Later point: the events recorded by then.")
@output_option
@requires(Needs.DATABASE)
def diff_(
    saga_id: str,
    from_version: int | None,
    to_version: int | None,
    from_time: datetime | None,
    to_time: datetime | None,
    output: str,
) -> None:
    """Which fields changed between two points, from what to what, and which events did it.

    Each point is a version (--from/--to) or an instant (--from-time/--to-time); without a
    later point, the diff runs to the stream's end."""
    if (from_version is None) == (from_time is None):
        raise fail("give one of --from or --from-time", EXIT_USAGE)
    if to_version is not None and to_time is not None:
        raise fail("give --to or --to-time, not both", EXIT_USAGE)
    registry, recorded = _history(saga_id)
    with _replaying(saga_id):
        start = Point(from_version, from_time)
        end = None if to_version is None and to_time is None else Point(to_version, to_time)
        text, note = diff_text(registry, recorded, start, end, output)
    if note:
        click.echo(note, err=True)
    click.echo(text, nl=False)


# --- each command's work, from the events read to the text written (load_tests times these) ---


def show_text(recorded: Sequence[RecordedEvent], fmt: str, output: str) -> str:
    history = History.of(recorded)
    timeline = build_timeline(history)
    if fmt == "mermaid":
        return render_mermaid(timeline)
    if fmt == "html":
        return render_html(timeline)
    rows = [entry.as_row() for entry in timeline.entries]
    if output == "table":
        for row, entry in zip(rows, timeline.entries, strict=True):
            row["message_type"] = entry.short_type
    return _captured(lambda: emit(rows, output, TIMELINE_COLUMNS))


def state_text(
    registry: SagaRegistry,
    recorded: Sequence[RecordedEvent],
    at_version: int | None,
    at_time: datetime | None,
    output: str,
) -> tuple[str, str | None]:
    """(stdout, the stderr line saying which point it is)."""
    history = History.of(recorded)
    if at_version is not None:
        history = history.until_version(at_version)
    elif at_time is not None:
        history = history.until_time(at_time)
    described = describe(state_at(registry, history))
    last = history.recorded[-1]
    if output == "json":
        at = {"version": last.version, "recorded_at": last.recorded_at.isoformat()}
        return json.dumps({"at": at, **described}, indent=2, default=str) + "\n", None
    rows = [{"field": path, "value": _cell(value)} for path, value in flatten(described).items()]
    note = f"saga {last.stream_id} at version {last.version} ({last.event_type}, "
    note += f"{last.recorded_at.isoformat()})"
    return _captured(lambda: emit(rows, output, ("field", "value"))), note


@dataclass(frozen=True)
class Point:
    """A point in a stream: a version, or an instant (the events recorded by then)."""

    version: int | None
    at: datetime | None

    def in_(self, history: History) -> int:
        if self.version is not None:
            return history.until_version(self.version).last_version
        assert self.at is not None
        return history.until_time(self.at).last_version


def diff_text(
    registry: SagaRegistry,
    recorded: Sequence[RecordedEvent],
    start: Point,
    end: Point | None,
    output: str,
) -> tuple[str, str | None]:
    """(stdout, the stderr line summing it up). ``end`` None: the stream's end."""
    history = History.of(recorded)
    last = history.last_version if end is None else end.in_(history)
    result = diff(registry, history, start.in_(history), last)
    if output == "json":
        document = {
            "saga_id": result.saga_id,
            "from_version": result.from_version,
            "to_version": result.to_version,
            "changes": [change.as_row() for change in result.changes],
        }
        return json.dumps(document, indent=2, default=str) + "\n", None
    count = len(result.changes)
    note = f"saga {result.saga_id}: version {result.from_version} -> {result.to_version}, "
    note += f"{count} field{'s' if count != 1 else ''} changed"
    rows = [
        {
            "field": c.field,
            "from": _short(_cell(c.before)),
            "to": _short(_cell(c.after)),
            "events": ", ".join(f"v{cause.version} {cause.event}" for cause in c.caused_by),
        }
        for c in result.changes
    ]
    return _captured(lambda: emit(rows, output, ("field", "from", "to", "events"))), note


def _cell(value: Any) -> Any:
    """Table cells: strings as they are, structures as compact JSON (None stays `-`)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _short(cell: Any, width: int = 60) -> Any:
    """A whole record (a timer that came or went) would stretch every row of the table: cut
    it, visibly; --output json has it whole."""
    if isinstance(cell, str) and len(cell) > width:
        return cell[: width - 1] + "…"
    return cell


def _captured(render: Callable[[], None]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        render()
    return buffer.getvalue()


COMMANDS = (show, state, diff_)
