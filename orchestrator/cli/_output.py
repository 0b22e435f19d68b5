"""Data on stdout as a table or JSON; one option, one renderer, for every sagactl command."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import click

EXIT_OK: Final = 0
EXIT_PROBLEM: Final = 1  # the operation ran and found something wrong
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3  # Kafka, PostgreSQL or the registry did not answer

output_option = click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Format of the data written to stdout.",
)


def emit(rows: Sequence[Mapping[str, Any]], output: str, columns: Sequence[str]) -> None:
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    table = [list(columns)] + [
        ["-" if row.get(c) is None else str(row[c]) for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def fail(message: str, code: int) -> click.exceptions.Exit:
    """One line on stderr, then the exit status of its failure class."""
    click.echo(f"sagactl: {message}", err=True)
    return click.exceptions.Exit(code)
