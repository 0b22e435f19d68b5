"""`sagactl`: the operator's command line. Data goes to stdout, diagnostics to stderr.

Exit codes: 0 success, 1 the operation found a problem (incompatible schema, broken chain...),
2 bad usage or configuration, 3 a dependency (Kafka, PostgreSQL, registry) is unreachable,
4 sagactl itself failed (a bug: the one line names the exception).

Bad values are refused while the command line is parsed (`_types`), settings and dependencies
are checked before a command's body runs (`_reach.requires`); what is left here maps failures
that can still happen mid-operation to their exit codes, so that none reaches a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import psycopg
from confluent_kafka import KafkaException

from orchestrator.cli._acls import acls
from orchestrator.cli._archive import anchor_command, export_command, import_command, verify
from orchestrator.cli._audit import audit
from orchestrator.cli._db import db
from orchestrator.cli._demo import demo
from orchestrator.cli._dlq import dlq
from orchestrator.cli._forensics import COMMANDS as FORENSICS_COMMANDS
from orchestrator.cli._output import EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_USAGE, fail, first_line
from orchestrator.cli._reach import kafka_reason
from orchestrator.cli._registry import registry
from orchestrator.cli._replay import replay_check
from orchestrator.cli._saga import saga
from orchestrator.cli._schemas import schemas
from orchestrator.cli._worker import participant, projector, worker
from orchestrator.config import ConfigError
from orchestrator.kafka import TopicSetupError
from orchestrator.observability import configure_tracing

__all__ = ["main", "sagactl"]


class _Sagactl(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # e.g. SAGA_SAGAS naming no class, read by the body
            raise fail(f"configuration error: {exc}", EXIT_USAGE) from None
        except psycopg.OperationalError as exc:  # the server went away mid-operation
            raise fail(f"PostgreSQL failed: {first_line(exc)}", EXIT_UNREACHABLE) from None
        except KafkaException as exc:
            raise fail(f"Kafka failed: {kafka_reason(exc)}", EXIT_UNREACHABLE) from None
        except TopicSetupError as exc:  # e.g. a principal without CREATE (sagactl acls)
            raise fail(f"Kafka topics: {exc}", EXIT_UNREACHABLE) from None


# The long-running processes name their own services in traces; every other command (a demo's
# starts, a dead-letter redrive) reports as `sagactl`.
_OWN_SERVICE_NAMES = frozenset({"worker", "projector", "participant"})


@click.group(cls=_Sagactl, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def sagactl(ctx: click.Context) -> None:
    """Operate saga-orchestrator: event store, schemas, workers, dead letters, the demo."""
    if ctx.invoked_subcommand not in _OWN_SERVICE_NAMES:
        configure_tracing("sagactl")  # off (nothing installed) unless OTEL_* asks for it


for command in (
    acls,
    audit,
    db,
    demo,
    dlq,
    saga,
    participant,
    projector,
    registry,
    replay_check,
    schemas,
    worker,
):
    sagactl.add_command(command)
for command in FORENSICS_COMMANDS:
    saga.add_command(command)
for command in (export_command, import_command, verify):
    sagactl.add_command(command)
db.add_command(anchor_command)


def main() -> None:
    try:
        sagactl.main(standalone_mode=True)
    except Exception as exc:
        # Last resort: every known failure has its exit code above and in the commands; an
        # exception reaching this point is a bug, said in one line (SAGACTL_TRACEBACK=1 shows
        # the traceback for the bug report).
        if os.environ.get("SAGACTL_TRACEBACK") == "1":
            raise
        click.echo(
            f"sagactl: internal error: {type(exc).__name__}: {first_line(exc)} "
            "(SAGACTL_TRACEBACK=1 shows where)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
