"""Participant inbox cost: commands/s, WAL bytes and PostgreSQL CPU per command on the batch path.

Drives `Participant.handle_batch` (the SDK's real transaction: claim, handler, record) over a
`PostgresInbox` in a scratch database of the real server, with batches of fresh epoch-1 execute
commands (the common case: no redelivery, no operator retry). The handler writes nothing of its
own, so every figure is the inbox's. The headline is WAL bytes per command: deterministic,
unlike CPU time on a shared machine. They are this benchmark's own (pg_waldump over the WAL
written meanwhile, keeping the transactions that touched the scratch database: other clients
of the server write WAL too), as records without full-page images (`rec`) and with them
(`tot`, which depends on when the last checkpoint was). PostgreSQL CPU is the inbox
connection's backend (utime + stime of /proc/<pid>/stat). Both need the server on this
machine, and a superuser.

Only APIs that every release has are used, so the same file measures an older checkout:

    PYTHONPATH=/path/to/checkout .venv/bin/python -m load_tests.bench_inbox [--batches 20]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from confluent_kafka.schema_registry import SchemaRegistryClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator import participant
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import ConsumedRecord
from orchestrator.participant import CommandContext, Participant, PostgresInbox
from sagas.order_messages import InventoryReserved, ReserveInventory

COMMANDS = "bench.inventory.commands"
REPLIES = "bench.saga.replies"
STEP = "reserve_inventory"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    commands: int
    seconds: float
    wal_records: int
    wal_bytes: int  # records without full-page images
    wal_bytes_with_images: int
    backend_cpu_s: float

    def line(self) -> str:
        n = self.commands
        return (
            f"{n / self.seconds:6.0f} commands/s  WAL/command: {self.wal_bytes / n:5.0f} B rec, "
            f"{self.wal_bytes_with_images / n:5.0f} B tot, {self.wal_records / n:4.1f} records  "
            f"PG backend CPU: {self.backend_cpu_s * 1000 / n:.3f} s/1000 commands"
        )


_WALDUMP_LINE = re.compile(r"len \(rec/tot\):\s*(\d+)/\s*(\d+), tx:\s*(\d+),")


def own_wal(
    waldump: str, wal_dir: str, start: str, end: str, database_oid: int
) -> tuple[int, int, int]:
    """[records, bytes, bytes with images] of the transactions that wrote to `database_oid`
    between the two WAL positions (their commit records included)."""
    dumped = subprocess.run(
        [waldump, "-p", wal_dir, "-s", start, "-e", end],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    marker = re.compile(rf"rel \d+/{database_oid}/\d+")
    records = [(m, line) for line in dumped if (m := _WALDUMP_LINE.search(line))]
    ours = {m.group(3) for m, line in records if marker.search(line)}
    ours.discard("0")
    totals = [0, 0, 0]
    for m, _ in records:
        if m.group(3) in ours:
            totals[0] += 1
            totals[1] += int(m.group(1))
            totals[2] += int(m.group(2))
    return totals[0], totals[1], totals[2]


def _waldump() -> str:
    found = shutil.which("pg_waldump") or max(
        glob.glob("/usr/lib/postgresql/*/bin/pg_waldump"), default=None
    )
    if found is None:
        sys.exit("bench_inbox: pg_waldump not found (PATH, /usr/lib/postgresql/*/bin)")
    return found


def _step_key(saga_id: str) -> str | None:
    """The relay's step key for an epoch-1 execute (None on a release without step keys)."""
    try:
        from orchestrator.saga import step_key_for
    except ImportError:
        return None
    return step_key_for(saga_id, STEP, compensation=False)


def command(codec: Codec, offset: int) -> ConsumedRecord:
    """A first-attempt execute command with the headers the relay sets."""
    saga_id = str(uuid.uuid4())
    headers = [
        ("saga_message_id", str(uuid.uuid4())),
        ("saga_id", saga_id),
        ("saga_type", "order_fulfilment"),
        ("saga_step", STEP),
        ("saga_attempt", "1"),
        ("saga_reply_topic", REPLIES),
        ("correlation_id", saga_id),
        ("causation_id", str(uuid.uuid4())),
        ("traceparent", f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"),
        ("saga_command_kind", "execute"),
    ]
    key = _step_key(saga_id)
    if key is not None:
        headers.append(("saga_step_key", key))
    message = ReserveInventory(order_id=saga_id, sku="sku-1", quantity=2)
    return ConsumedRecord(
        topic=COMMANDS,
        partition=0,
        offset=offset,
        key=saga_id.encode(),
        value=codec.encode(COMMANDS, message),
        headers=[(k, v.encode()) for k, v in headers],
        timestamp_ms=-1,
    )


@contextmanager
def scratch_database(superuser: str) -> Iterator[str]:
    name = f"bench_inbox_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(superuser, dbname=name)
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> str:
    row = conn.execute(query).fetchone()
    assert row is not None
    return str(row[0])


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime


def run(superuser: str, *, batches: int, batch_size: int, warmup: int) -> Result:
    waldump = _waldump()
    codec = Codec(SchemaRegistryClient.new_client({"url": "mock://bench-inbox"}))
    with scratch_database(superuser) as url:
        inbox = PostgresInbox(url, consumer="inventory")
        service = Participant("inventory", settings=Settings(), codec=codec, inbox=inbox)

        @service.handles(ReserveInventory, topic=COMMANDS)
        def reserve(message: ReserveInventory, ctx: CommandContext) -> InventoryReserved:
            return InventoryReserved(order_id=message.order_id, reservation_id=ctx.message_id)

        def handle(records: list[ConsumedRecord]) -> None:
            """What the participant does with a polled batch, up to producing its replies."""
            replies, failed = service.handle_batch([(r, *service.decode(r)) for r in records])
            if len(replies) != len(records) or failed:
                raise RuntimeError(f"{len(replies)} replies, {len(failed)} failed")

        offset = 0

        def batch() -> list[ConsumedRecord]:
            nonlocal offset
            records = [command(codec, offset + i) for i in range(batch_size)]
            offset += batch_size
            return records

        for _ in range(warmup):  # creates the table, warms caches and the reply schema
            handle(batch())
        work = [batch() for _ in range(batches)]  # encoded before timing: the relay's cost
        with inbox.transaction() as tx:
            assert tx.connection is not None
            row = tx.connection.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pid = int(str(row[0]))
        with psycopg.connect(url, autocommit=True) as probe:
            wal_dir = _one(probe, "SHOW data_directory") + "/pg_wal"
            oid = int(_one(probe, "SELECT oid FROM pg_database WHERE datname = current_database()"))
            wal_start = _one(probe, "SELECT pg_current_wal_insert_lsn()")
            cpu_before = _backend_cpu(pid)
            start = time.perf_counter()
            for records in work:
                handle(records)
            seconds = time.perf_counter() - start
            cpu_after = _backend_cpu(pid)
            # Every commit above was flushed (synchronous_commit), so its WAL is on disk.
            wal_end = _one(probe, "SELECT pg_current_wal_flush_lsn()")
        inbox.close()
        wal_records, rec_bytes, tot_bytes = own_wal(waldump, wal_dir, wal_start, wal_end, oid)
    return Result(
        batches * batch_size, seconds, wal_records, rec_bytes, tot_bytes, cpu_after - cpu_before
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    parser.add_argument(
        "--superuser",
        default=os.environ.get(
            "SAGA_BENCH_PG_SUPERUSER", "postgresql://postgres:postgres@127.0.0.1:5433/postgres"
        ),
        help="superuser URL of the server (creates and drops a scratch database)",
    )
    args = parser.parse_args()
    host = conninfo_to_dict(args.superuser).get("host", "")
    print(f"inbox of {participant.__file__} on {host}: {args.batches} x {args.batch_size}")
    result = run(
        args.superuser, batches=args.batches, batch_size=args.batch_size, warmup=args.warmup
    )
    print(result.line())


if __name__ == "__main__":
    main()
