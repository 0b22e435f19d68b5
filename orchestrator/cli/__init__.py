"""`sagactl`: the operator's command line. Data goes to stdout, diagnostics to stderr.

Exit codes: 0 success, 1 the operation found a problem (incompatible schema, broken chain...),
2 bad usage or configuration, 3 a dependency (Kafka, PostgreSQL, registry) is unreachable.
"""

from __future__ import annotations

import sys

import click

from orchestrator.cli._db import db
from orchestrator.cli._demo import demo
from orchestrator.cli._dlq import dlq
from orchestrator.cli._registry import registry
from orchestrator.cli._saga import saga
from orchestrator.cli._schemas import schemas
from orchestrator.cli._worker import participant, projector, worker
from orchestrator.config import ConfigError

__all__ = ["main", "sagactl"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def sagactl() -> None:
    """Operate saga-orchestrator: event store, schemas, workers, dead letters, the demo."""


for command in (db, demo, dlq, saga, participant, projector, registry, schemas, worker):
    sagactl.add_command(command)


def main() -> None:
    try:
        sagactl.main(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"sagactl: configuration error: {exc}", err=True)
        sys.exit(2)
