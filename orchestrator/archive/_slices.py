"""A whole-store scan split over processes, all in ONE snapshot of the store.

A scan's cost is the server's jsonb output and Python's parsing and hashing, both per row and
both on one core each; ``jobs`` processes each scan a slice of the stream ids, with a server
backend each, so every core is used. The coordinator holds a REPEATABLE READ transaction and
exports its snapshot; every slice's transaction adopts it (``SET TRANSACTION SNAPSHOT``), so
the slices together are exactly the store at one moment, as a single scan would be.

Work runs in forked processes (they inherit what the parent loaded, saga classes included,
and return picklable results); slices are cut from the index of first events, several per
process so that the slices end at about the same time and progress moves.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import psycopg
from psycopg import sql

__all__ = ["Slice", "in_slice", "map_slices", "store_snapshot"]

R = TypeVar("R")
Connection = psycopg.Connection[Any]

SLICES_PER_JOB: Final = 4
_FIRSTS_SQL: Final = "SELECT stream_id FROM events WHERE version = 1 ORDER BY stream_id"


@dataclass(frozen=True, slots=True)
class Slice:
    """The streams with lo <= stream_id < hi (hi None: to the end), in an exported snapshot."""

    lo: str
    hi: str | None
    snapshot: str | None


def _cut(conn: Connection, parts: int, snapshot: str | None) -> list[Slice]:
    ids = [row[0] for row in conn.execute(_FIRSTS_SQL)]
    if parts <= 1 or len(ids) < parts:
        return [Slice("", None, snapshot)]
    bounds = [ids[len(ids) * k // parts] for k in range(1, parts)]
    # "" sorts before every stream id: the first slice also holds streams whose first event
    # is missing (the chain check names them), whatever their id.
    return [
        Slice(lo, hi, snapshot)
        for lo, hi in zip(["", *bounds], [*bounds, None], strict=True)
        if lo != hi
    ]


@contextmanager
def in_slice(conninfo: str, part: Slice) -> Iterator[Connection]:
    """A read-only REPEATABLE READ transaction in the slice's snapshot."""
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            if part.snapshot is not None:
                # The transaction's first statement, as PostgreSQL requires.
                conn.execute(
                    sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(part.snapshot))
                )
            yield conn


@contextmanager
def store_snapshot(conninfo: str) -> Iterator[tuple[Connection, str]]:
    """The coordinator's read-only REPEATABLE READ transaction and its exported snapshot, which
    stays adoptable while the transaction is open."""
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            yield conn, str(row[0])


def map_slices(
    conninfo: str,
    conn: Connection,
    snapshot: str,
    work: Callable[[str, Slice], R],
    jobs: int,
) -> Iterator[R]:
    """``work(conninfo, slice)`` for every slice of the store, as each finishes, in ``jobs``
    forked processes (a single job scans in the caller's own transaction instead)."""
    parts = _cut(conn, jobs * SLICES_PER_JOB, snapshot)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(work, conninfo, part) for part in parts]
        for future in as_completed(futures):
            yield future.result()
