"""`sagactl replay-check`: the deploy gate, "will this change break sagas in flight?".

Recorded histories (from the event store, or JSON Lines files as in tests/histories/) are
replayed through the saga classes SAGA_SAGAS names now, by the one replayer
(orchestrator.saga.check_history); the first divergence of each history is reported. Exit 1
if any history diverges, 0 if none does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
import psycopg

from event_store.postgres import PostgresEventStore
from orchestrator.cli._output import EXIT_PROBLEM, EXIT_USAGE, emit, fail, output_option
from orchestrator.cli._reach import require_postgres, requires
from orchestrator.cli._types import Instant, Text
from orchestrator.config import Settings
from orchestrator.runtime import load_sagas
from orchestrator.saga import RegistryError, ReplayReport, SagaRegistry, check_history, load_history
from orchestrator.saga import events as ev

# Saga streams to check, oldest id first; `--since` by when the saga started.
_SAGAS_TO_CHECK = """
SELECT stream_id FROM events
WHERE version = 1
  AND (%(saga_type)s::text IS NULL OR stream_type = %(saga_type)s)
  AND (%(since)s::timestamptz IS NULL OR recorded_at >= %(since)s)
ORDER BY stream_id
LIMIT %(limit)s
"""
# Progress on stderr at most this often: a long run says it is alive without flooding a log.
_PROGRESS_EVERY_S = 2.0


def _row(report: ReplayReport) -> dict[str, object]:
    divergence = report.divergence
    return {
        "history": report.source,
        "type": report.saga_type,
        "version": report.definition_version,
        "decisions": report.decisions,
        "result": "ok" if divergence is None else "DIVERGES",
        "position": None if divergence is None else divergence.position,
        "recorded": None if divergence is None else _name(divergence.expected),
        "decided": None if divergence is None else _name(divergence.actual),
        "detail": None if divergence is None else (divergence.error or str(divergence)),
    }


def _name(event: ev.SagaEvent | None) -> str:
    return "(none)" if event is None else event.event_type


def _from_files(registry: SagaRegistry, files: tuple[Path, ...]) -> Iterator[ReplayReport]:
    for path in files:
        try:
            history = load_history(path)
        except (OSError, ValueError) as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        yield _check(registry, history, str(path))


def _from_database(
    registry: SagaRegistry,
    settings: Settings,
    saga_type: str | None,
    since: datetime | None,
    limit: int,
) -> Iterator[ReplayReport]:
    params = {"saga_type": saga_type, "since": since, "limit": limit}
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        stream_ids = [row[0] for row in conn.execute(_SAGAS_TO_CHECK, params).fetchall()]
    with PostgresEventStore(settings.database_url) as store:
        for stream_id in stream_ids:
            recorded = store.read_stream(stream_id)
            try:
                history = [ev.event_from_recorded(event) for event in recorded]
            except (ValueError, TypeError) as exc:
                raise fail(f"{stream_id}: not a saga history: {exc}", EXIT_PROBLEM) from None
            yield _check(registry, history, stream_id)


def _check(registry: SagaRegistry, history: list[ev.SagaEvent], source: str) -> ReplayReport:
    try:
        return check_history(registry, history, source)
    except RegistryError as exc:
        # The class that started it is no longer deployed: every message of it would fail.
        raise fail(f"{source}: {exc}", EXIT_PROBLEM) from None


@click.command("replay-check")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A history as JSON Lines (tests/histories/*.jsonl); repeat for more. "
    "Without --file, histories come from the event store.",
)
@click.option("--saga-type", type=Text(), help="From the store: only sagas of this type.")
@click.option("--since", type=Instant(), help="From the store: only sagas started at or after.")
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000_000),
    help="From the store: at most this many sagas.",
)
@click.option("--all", "show_all", is_flag=True, help="List the histories that replay too.")
@output_option
@requires()  # the settings only: histories from files need no server
def replay_check(
    files: tuple[Path, ...],
    saga_type: str | None,
    since: datetime | None,
    limit: int,
    show_all: bool,
    output: str,
) -> None:
    """Replay recorded histories through the saga classes deployed now (SAGA_SAGAS); report
    each history's first divergence, exit 1 if any."""
    settings = Settings.from_env()
    registry = SagaRegistry(load_sagas(settings.sagas))
    if files:
        if saga_type is not None or since is not None:
            raise click.UsageError("--saga-type and --since select from the store, not --file")
        reports = _from_files(registry, files)
    else:
        require_postgres(settings.database_url)
        reports = _from_database(registry, settings, saga_type, since, limit)
    rows: list[dict[str, object]] = []
    checked = diverged = 0
    last_progress = time.monotonic()
    for report in reports:
        checked += 1
        diverged += not report.ok
        if show_all or not report.ok:
            rows.append(_row(report))
        if time.monotonic() - last_progress >= _PROGRESS_EVERY_S:
            click.echo(f"replay-check: {checked} checked, {diverged} diverge", err=True)
            last_progress = time.monotonic()
    emit(
        rows,
        output,
        ("history", "type", "version", "decisions", "result", "position", "recorded", "decided"),
    )
    click.echo(f"replay-check: {checked} histories, {diverged} diverge", err=True)
    if diverged:
        raise click.exceptions.Exit(EXIT_PROBLEM)
