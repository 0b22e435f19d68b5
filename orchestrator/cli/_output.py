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
EXIT_INTERNAL: Final = 4  # sagactl itself failed: a bug (main() says so in one line)

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
    widths = [max(map(len, cells)) for cells in zip(*table, strict=True)]
    # One write for the whole table: an echo per line was a third of `saga show`'s cost.
    click.echo(
        "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in table
        )
    )


def fail(message: str, code: int) -> click.exceptions.Exit:
    """One line on stderr, then the exit status of its failure class. A message quoting a
    library's multi-line error is joined into that one line."""
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    click.echo(f"sagactl: {line}", err=True)
    return click.exceptions.Exit(code)


def first_line(exc: BaseException) -> str:
    """psycopg's messages carry libpq's hints on further lines; the first says what failed."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
