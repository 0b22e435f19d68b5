"""`sagactl audit`: the design's invariants checked from the event store alone.

    sagactl audit [--grace 5m] [--public-key K] [--jobs N] [--output table|json]

One line per violation on stdout, naming the saga and the invariant (INVARIANTS lists them);
a progress bar on stderr when it is a terminal, then a summary line. Exit codes are sagactl's:
0 no violation, 1 violations found (the last stderr line counts them and names the first),
2 bad usage or configuration, 3 PostgreSQL or (for parked sagas and anchors) Kafka
unreachable.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from orchestrator.cli._archive import anchor_findings
from orchestrator.cli._output import EXIT_PROBLEM, emit, fail, output_option
from orchestrator.cli._progress import Progress, jobs_option
from orchestrator.cli._reach import Needs, require_kafka, requires
from orchestrator.cli._types import Duration
from orchestrator.config import Settings
from orchestrator.forensics import INVARIANTS, Invariant, Violation
from orchestrator.forensics.audit_store import audit_store
from orchestrator.forensics.dead_letters import missing_dead_letters
from orchestrator.runtime import load_sagas
from orchestrator.saga import SagaRegistry
from orchestrator.security import kafka_connection

__all__ = ["audit"]

COLUMNS = ("saga_id", "invariant", "version", "detail")


def _help() -> str:
    # \b keeps click from re-wrapping the list into one paragraph.
    return (
        "Check the design's invariants from the event store alone; name the saga and the "
        "invariant of each violation (exit 1 if any).\n\n\b\n"
        + "\n".join(f"{kind.value}: {text}" for kind, text in INVARIANTS.items())
    )


@click.command(name="audit", help=_help())
@click.option(
    "--grace",
    type=Duration(),
    default="5m",
    show_default=True,
    help="How long past its last timer a running saga may still be waiting for it to fire.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Public key of the anchors: judge the chains by the newest one too "
    "[default: derived from $SAGA_ANCHOR_SIGNING_KEY_FILE, else anchors are not checked].",
)
@jobs_option
@output_option
@requires(Needs.DATABASE)
def audit(grace: timedelta, public_key: Path | None, jobs: int, output: str) -> None:
    settings = Settings.from_env()
    registry = SagaRegistry(load_sagas(settings.sagas))
    # A bar on a terminal only: in a pipe or a log, stderr is the summary and the verdict.
    progress = Progress(sys.stderr, what="audit", unit="events", tty=True)
    shown = progress if sys.stderr.isatty() else None
    try:
        result = audit_store(
            settings.database_url,
            registry,
            datetime.now(UTC),
            grace,
            progress=shown,
            jobs=jobs,
        )
    finally:
        progress.close()
    violations = list(result.violations)
    if result.parked:
        require_kafka(settings)
        violations.extend(missing_dead_letters(kafka_connection(settings), result.parked))
    for finding in anchor_findings(settings, public_key) or []:
        violations.append(
            Violation(
                str(finding["stream_id"]),
                Invariant.CHAIN,
                int(finding["version"]),
                f"against the anchor, {finding['finding']}: {finding['reason']}",
            )
        )
    violations.sort(key=lambda v: (v.saga_id, v.invariant.value, v.version or 0))
    emit([v.as_row() for v in violations], output, COLUMNS)
    click.echo(
        f"audited {result.streams} saga(s), {result.events} event(s), "
        f"{len(result.parked)} parked dead letter(s): {len(violations)} violation(s)",
        err=True,
    )
    if violations:
        kinds = sorted({v.invariant.value for v in violations})
        first = violations[0]
        raise fail(
            f"audit: {len(violations)} violation(s) of {', '.join(kinds)}; first: saga "
            f"{first.saga_id} breaks {first.invariant.value}",
            EXIT_PROBLEM,
        )
