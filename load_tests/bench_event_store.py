"""Event-store benchmark against the real PostgreSQL, in a scratch database of its own.

Prints four figures (and the targets they are held to on the 2-core reference box):
  batched append   events/s in 100-event transactions spread over many streams  (>= 20,000)
  single append    transactions/s, one event per transaction                     (~480 commits/s
                   is what a bare one-row-per-transaction loop reaches here)
  replay           read_stream of one 1,000-event stream, median ms              (<= 15 ms)
  read_all         events/s paging through the global log, 1,000 per page        (>= 50,000)

Every append goes through the full path a worker uses: validation, canonical JSON, hash chain,
head check with optimistic concurrency and message-id deduplication, one INSERT, one COMMIT.

    .venv/bin/python load_tests/bench_event_store.py [--rounds 3] [--batches 300] [--json]
    (SAGA_DATABASE_URL, SAGA_OWNER_DATABASE_URL, SAGA_SUPERUSER_DATABASE_URL as for the tests)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from event_store import NewEvent, StreamAppend
from event_store.postgres import PostgresEventStore
from orchestrator.config import Settings
from orchestrator.database import migrate

SUPERUSER_URL = os.environ.get(
    "SAGA_SUPERUSER_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5433/postgres"
)
BATCH_EVENTS = 100
STREAMS_PER_BATCH = 50  # two events per stream: a step's command and its timer, say
STREAM_POOL = 5_000


def payload(step: int) -> NewEvent:
    return NewEvent(
        "CommandIssued",
        {
            "step": "reserve_credit",
            "attempt": 1,
            "compensation": False,
            "command": {"order_id": f"o-{step}", "amount_cents": 1999, "currency": "EUR"},
        },
        metadata={
            "correlation_id": str(uuid.uuid4()),
            "causation_id": str(uuid.uuid4()),
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "actor": "worker-0",
        },
    )


@contextmanager
def scratch_database(settings: Settings) -> Iterator[str]:
    """A fresh database migrated by the owner role; yields the app role's conninfo."""
    name = f"bench_es_{uuid.uuid4().hex[:10]}"
    owner_role = str(conninfo_to_dict(settings.owner_database_url).get("user"))
    app_role = str(conninfo_to_dict(settings.database_url).get("user"))
    with psycopg.connect(SUPERUSER_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner_role)
            )
        )
    try:
        migrate(make_conninfo(settings.owner_database_url, dbname=name), app_role=app_role)
        yield make_conninfo(settings.database_url, dbname=name)
    finally:
        with psycopg.connect(SUPERUSER_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class Figures:
    """Each figure is the median over rounds; `best_*` the best round (the machine is shared,
    so the spread says how much of a gap is noise)."""

    rounds: int
    batched_append_events_per_s: float
    best_batched_append_events_per_s: float
    # The same with two writers in parallel (two worker processes, or a worker and the relay):
    # one writer waits on each COMMIT, two overlap one's Python with the other's fsync.
    batched_append_2_writers_events_per_s: float
    best_batched_append_2_writers_events_per_s: float
    single_append_tx_per_s: float
    best_single_append_tx_per_s: float
    replay_1000_events_ms: float
    best_replay_1000_events_ms: float
    read_all_events_per_s: float
    best_read_all_events_per_s: float
    read_all_events: int


def bench_batched(conninfo: str, batches: int, writer: int, versions: dict[str, int]) -> int:
    """Append `batches` transactions of 100 events over streams this writer owns."""
    rng = random.Random(writer)
    streams = [f"w{writer}-saga-{i}" for i in range(STREAM_POOL)]
    events = [payload(0), payload(1)]
    written = 0
    with PostgresEventStore(conninfo, pool_max_size=1) as store:
        for batch_no in range(batches):
            chosen = rng.sample(streams, STREAMS_PER_BATCH)
            batch = [
                StreamAppend(
                    stream,
                    "OrderFulfilment",
                    versions.get(stream, 0),
                    events,
                    message_id=f"{stream}:{batch_no}",
                )
                for stream in chosen
            ]
            result = store.append_batch(batch)
            if result.conflicts:
                raise RuntimeError(f"unexpected conflicts: {list(result.conflicts)[:3]}")
            for stream, appended in result.appended.items():
                versions[stream] = appended.last_version
            written += sum(len(a.positions) for a in result.appended.values())
    return written


def run_batched(conninfo: str, batches: int, writers: int, run_no: int) -> float:
    totals = [0] * writers

    def work(index: int) -> None:
        # Writer ids differ per run, so every run starts its streams from version 0.
        totals[index] = bench_batched(conninfo, batches // writers, run_no * 100 + index, {})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(totals) / elapsed


def run_single(store: PostgresEventStore, seconds: float, round_no: int) -> float:
    event = [payload(0)]
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        stream = f"single-{round_no}-{count}"
        store.append(stream, "OrderFulfilment", 0, event, message_id=f"m-{count}")
        count += 1
    return count / (time.perf_counter() - started)


def make_replay_stream(store: PostgresEventStore) -> str:
    stream = "replay-1000"
    for chunk in range(10):
        events = [payload(chunk * 100 + i) for i in range(100)]
        store.append(stream, "OrderFulfilment", chunk * 100, events)
    return stream


def run_replay(store: PostgresEventStore, stream: str, reads: int) -> float:
    """Median milliseconds of `reads` full reads of the 1,000-event stream."""
    timings = []
    for _ in range(reads):
        started = time.perf_counter()
        events_read = store.read_stream(stream)
        timings.append((time.perf_counter() - started) * 1000)
        assert len(events_read) == 1000
    return statistics.median(timings)


def run_read_all(store: PostgresEventStore) -> tuple[float, int]:
    total = 0
    after = 0
    started = time.perf_counter()
    while page := store.read_all(after, 1000):
        total += len(page)
        after = page[-1].position
    return total / (time.perf_counter() - started), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement")
    parser.add_argument("--batches", type=int, default=300, help="100-event transactions/round")
    parser.add_argument("--single-seconds", type=float, default=1.5, help="per round")
    parser.add_argument("--replay-reads", type=int, default=30, help="per round")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    batched: list[float] = []
    batched_2: list[float] = []
    single: list[float] = []
    replay: list[float] = []
    read_all: list[float] = []
    with scratch_database(Settings.from_env()) as conninfo:
        bench_batched(conninfo, 20, 99, {})  # warm-up: connections, prepared statements
        with PostgresEventStore(conninfo, pool_max_size=1) as store:
            stream = make_replay_stream(store)
            for round_no in range(args.rounds):
                batched.append(run_batched(conninfo, args.batches, 1, 2 * round_no))
                batched_2.append(run_batched(conninfo, args.batches, 2, 2 * round_no + 1))
                single.append(run_single(store, args.single_seconds, round_no))
                replay.append(run_replay(store, stream, args.replay_reads))
                assert store.wait_until_readable()
                rate, total = run_read_all(store)
                read_all.append(rate)
            assert store.verify().ok

    figures = Figures(
        rounds=args.rounds,
        batched_append_events_per_s=round(statistics.median(batched)),
        best_batched_append_events_per_s=round(max(batched)),
        batched_append_2_writers_events_per_s=round(statistics.median(batched_2)),
        best_batched_append_2_writers_events_per_s=round(max(batched_2)),
        single_append_tx_per_s=round(statistics.median(single)),
        best_single_append_tx_per_s=round(max(single)),
        replay_1000_events_ms=round(statistics.median(replay), 2),
        best_replay_1000_events_ms=round(min(replay), 2),
        read_all_events_per_s=round(statistics.median(read_all)),
        best_read_all_events_per_s=round(max(read_all)),
        read_all_events=total,
    )
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
        return
    f = figures
    print(f"median of {f.rounds} rounds (best round in brackets)")
    print(
        f"batched append : {f.batched_append_events_per_s:>9,.0f} events/s "
        f"[{f.best_batched_append_events_per_s:,.0f}]  {BATCH_EVENTS}-event transactions, "
        "one writer; target >= 20,000"
    )
    print(
        f"  two writers  : {f.batched_append_2_writers_events_per_s:>9,.0f} events/s "
        f"[{f.best_batched_append_2_writers_events_per_s:,.0f}]  the same, two writers at once"
    )
    print(
        f"single append  : {f.single_append_tx_per_s:>9,.0f} transactions/s "
        f"[{f.best_single_append_tx_per_s:,.0f}]  one event each; a bare 1-row commit loop "
        "does ~480/s here"
    )
    print(
        f"replay 1,000   : {f.replay_1000_events_ms:>9.2f} ms "
        f"[{f.best_replay_1000_events_ms:.2f}]  read_stream of a 1,000-event stream; "
        "target <= 15 ms"
    )
    print(
        f"read_all       : {f.read_all_events_per_s:>9,.0f} events/s "
        f"[{f.best_read_all_events_per_s:,.0f}]  over {f.read_all_events:,} events, 1,000 per "
        "page; target >= 50,000"
    )


if __name__ == "__main__":
    main()
