"""`sagactl db`: the event store's schema, its hash chains and its projections.

    sagactl db migrate [--dry-run] [--app-role ROLE]   as the owner (SAGA_OWNER_DATABASE_URL)
    sagactl db verify [--stream ID]                    as the app role (SAGA_DATABASE_URL)
    sagactl db rebuild [--dry-run]                     as the owner (TRUNCATE is the owner's)

Data goes to stdout (`--output table|json`), diagnostics to stderr. Exit codes follow sagactl's:
0 success, 1 the operation found a problem (a broken hash chain, an edited migration),
2 bad usage or configuration, 3 PostgreSQL is unreachable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict

from event_store.verify import VerifyReport
from orchestrator.archive import verify_store
from orchestrator.cli._archive import FINDING_COLUMNS, anchor_findings
from orchestrator.cli._output import EXIT_PROBLEM, EXIT_UNREACHABLE, fail, first_line, output_option
from orchestrator.cli._progress import Progress, jobs_option
from orchestrator.cli._reach import Needs, requires
from orchestrator.cli._types import RoleName, StreamId
from orchestrator.config import Settings
from orchestrator.database import Migration, MigrationError, migrate, pending_migrations
from orchestrator.projections import RebuildReport, TableChange, rebuild
from orchestrator.runtime import load_sagas
from orchestrator.saga import SagaRegistry

__all__ = ["db"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _fail(message: str, code: int) -> NoReturn:
    raise fail(f"db: {message}", code)


def _emit(
    output: str, data: object, headers: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(_table(headers, rows))


def _run(work: Callable[[], Any]) -> Any:
    """Run `work`, turning database failures into sagactl's exit codes."""
    try:
        return work()
    except MigrationError as exc:
        _fail(str(exc), EXIT_PROBLEM)
    except psycopg.OperationalError as exc:
        _fail(f"PostgreSQL is unreachable or failed: {first_line(exc)}", EXIT_UNREACHABLE)


@click.group(name="db")
def db() -> None:
    """Event store: schema migrations, hash-chain verification, projection rebuild."""


def _migration_row(migration: Migration, state: str) -> dict[str, object]:
    return {
        "version": migration.version,
        "name": migration.name,
        "checksum": migration.checksum,
        "state": state,
    }


@db.command(name="migrate")
@click.option(
    "--app-role",
    type=RoleName(),
    default=None,
    help="Role granted INSERT/SELECT on events [default: the user of SAGA_DATABASE_URL].",
)
@click.option("--dry-run", is_flag=True, help="List the pending migrations; apply nothing.")
@output_option
@requires(Needs.OWNER_DATABASE)
def migrate_command(app_role: str | None, dry_run: bool, output: str) -> None:
    """Apply pending schema migrations (idempotent; concurrent runs take turns)."""
    settings = Settings.from_env()
    role = app_role or str(conninfo_to_dict(settings.database_url).get("user") or "saga")
    if dry_run:
        pending: list[Migration] = _run(lambda: pending_migrations(settings.owner_database_url))
        entries = [_migration_row(m, "pending") for m in pending]
        click.echo(f"{len(entries)} migration(s) pending; nothing applied (dry run)", err=True)
    else:
        report = _run(lambda: migrate(settings.owner_database_url, app_role=role))
        entries = [_migration_row(m, "applied") for m in report.applied]
        entries += [_migration_row(m, "already applied") for m in report.already_applied]
        entries.sort(key=lambda entry: int(str(entry["version"])))
        if report.unknown:
            click.echo(
                "the database has migrations this release does not ship: "
                + ", ".join(f"{v:03d}" for v in report.unknown),
                err=True,
            )
        click.echo(f"{len(report.applied)} migration(s) applied", err=True)
    _emit(
        output,
        {"dry_run": dry_run, "app_role": role, "migrations": entries},
        ["VERSION", "NAME", "STATE"],
        [(f"{e['version']:03d}", e["name"], e["state"]) for e in entries],
    )


def _verify_data(report: VerifyReport, stream_id: str | None) -> dict[str, object]:
    return {
        "ok": report.ok,
        "scope": stream_id or "all",
        "streams_checked": report.streams_checked,
        "events_checked": report.events_checked,
        "breaks": [
            {
                "stream_id": b.stream_id,
                "version": b.version,
                "position": b.position,
                "reason": b.reason,
            }
            for b in report.breaks
        ],
    }


@db.command(name="verify")
@click.option(
    "--stream",
    "stream_id",
    type=StreamId("stream id"),
    default=None,
    help="Verify this stream only.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key of the anchors: compare the store with the newest one "
    "[default: derived from $SAGA_ANCHOR_SIGNING_KEY_FILE, else anchors are not checked].",
)
@jobs_option
@output_option
@requires(Needs.DATABASE)
def verify_command(
    stream_id: str | None, output: str, public_key: Path | None = None, jobs: int = 1
) -> None:
    """Recompute the hash chains and name the first broken event of each stream; then compare
    every stream's head with the newest anchor (a rewritten tail, a removed stream or event).

    On a terminal, stderr shows a bar with the share done and an estimate."""
    settings = Settings.from_env()
    # A bar on a terminal only: in a pipe, stderr stays the one line of a failure (a rebuild's
    # tenths are worth a log line; a check that fails must read as one).
    progress = Progress(sys.stderr, what="verify", unit="events", tty=True)
    try:
        report: VerifyReport = _run(
            lambda: verify_store(
                settings.database_url,
                stream_id,
                progress if sys.stderr.isatty() else None,
                jobs=jobs,
            )
        )
    finally:
        progress.close()  # end the bar's line before any other output
    # Anchors pin every stream; a check of one stream leaves them to the check of all.
    findings = anchor_findings(settings, public_key) if stream_id is None else None
    data = _verify_data(report, stream_id)
    if findings is not None:  # None: no anchor key, anchors not checked (stderr says so)
        data.update(ok=report.ok and not findings, anchor_findings=findings)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"checked {report.streams_checked} stream(s), {report.events_checked} event(s): "
            + ("chains intact" if report.ok else f"{len(report.breaks)} broken")
        )
        if report.breaks:
            click.echo(
                _table(
                    ["STREAM", "VERSION", "POSITION", "REASON"],
                    [(b.stream_id, b.version, b.position, b.reason) for b in report.breaks],
                )
            )
        if findings:
            click.echo(_table(FINDING_COLUMNS, [[f[c] for c in FINDING_COLUMNS] for f in findings]))
    if not report.ok:
        _fail(
            f"hash chain broken in {len(report.breaks)} stream(s); first: "
            f"{report.breaks[0].stream_id} version {report.breaks[0].version}",
            EXIT_PROBLEM,
        )
    if findings:
        first = findings[0]
        _fail(
            f"{len(findings)} finding(s) against the anchor; first: {first['finding']} "
            f"{first['stream_id']} version {first['version']}",
            EXIT_PROBLEM,
        )


def _change_data(change: TableChange) -> dict[str, object]:
    return {
        "rows_before": change.rows_before,
        "rows_after": change.rows_after,
        "added": change.added,
        "removed": change.removed,
        "changed": change.changed,
        "identical": change.identical,
    }


@db.command(name="rebuild")
@click.option("--dry-run", is_flag=True, help="Compute and compare; change nothing.")
@output_option
@requires(Needs.OWNER_DATABASE)
def rebuild_command(dry_run: bool, output: str) -> None:
    """Recreate the projections (saga_instances, timers) from the events alone.

    Progress goes to stderr: a bar with an estimate on a terminal, a line per tenth done
    otherwise."""
    settings = Settings.from_env()
    registry = SagaRegistry(load_sagas(settings.sagas))
    stderr = sys.stderr
    progress = Progress(stderr, what="rebuild", unit="events", tty=stderr.isatty())
    try:
        report: RebuildReport = _run(
            lambda: rebuild(
                settings.owner_database_url, registry=registry, dry_run=dry_run, progress=progress
            )
        )
    finally:
        progress.close()  # end the bar's line before any other output
    tables = {"saga_instances": report.saga_instances, "timers": report.timers}
    _emit(
        output,
        {
            "dry_run": report.dry_run,
            "horizon_reached": report.horizon_reached,
            "events_replayed": report.events_replayed,
            "checkpoint": report.checkpoint,
            "tables": {name: _change_data(change) for name, change in tables.items()},
        },
        ["TABLE", "BEFORE", "AFTER", "ADDED", "REMOVED", "CHANGED"],
        [
            (name, c.rows_before, c.rows_after, c.added, c.removed, c.changed)
            for name, c in tables.items()
        ],
    )
    if not report.horizon_reached:
        click.echo(
            "a long-running transaction on the server kept the newest events out of reach; "
            "the projector will fold them once it ends",
            err=True,
        )
    verb = "would change" if dry_run else "changed"
    differing = sum(c.added + c.removed + c.changed for c in tables.values())
    click.echo(
        f"replayed {report.events_replayed} event(s); {verb} {differing} projection row(s)"
        + (" (dry run: rolled back)" if dry_run else ""),
        err=True,
    )
