"""Event-store benchmark against the real PostgreSQL, in a scratch database of its own.

Prints four figures (and the targets they are held to on the 2-core reference box):
  batched append   events/s in 100-event transactions spread over many streams  (>= 20,000)
  single append    transactions/s, one event per transaction                     (~480 commits/s
                   is what a bare one-row-per-transaction loop reaches here)
  replay           read_stream of one 1,000-event stream, median ms              (<= 15 ms)
  read_all         events/s paging through the global log, 1,000 per page        (>= 50,000)

Every append goes through the full path a worker uses: validation, canonical JSON, hash chain,
head check with optimistic concurrency and message-id deduplication, one INSERT, one COMMIT.

    .venv/bin/python load_tests/bench_event_store.py [--batches 400] [--writers 1] [--json]
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
from event_store.migrations import migrate
from event_store.postgres import PostgresEventStore
from orchestrator.config import Settings

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
    batched_append_events_per_s: float
    batched_append_writers: int
    single_append_tx_per_s: float
    replay_1000_events_median_ms: float
    replay_1000_events_p95_ms: float
    read_all_events_per_s: float
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


def run_batched(conninfo: str, batches: int, writers: int) -> float:
    bench_batched(conninfo, 20, 99, {})  # warm-up: connections, prepared statements, caches
    totals = [0] * writers

    def work(index: int) -> None:
        totals[index] = bench_batched(conninfo, batches // writers, index, {})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(totals) / elapsed


def run_single(store: PostgresEventStore, seconds: float) -> float:
    event = [payload(0)]
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        store.append(f"single-{count}", "OrderFulfilment", 0, event, message_id=f"m-{count}")
        count += 1
    return count / (time.perf_counter() - started)


def run_replay(store: PostgresEventStore, runs: int) -> tuple[float, float]:
    stream = "replay-1000"
    for chunk in range(10):
        events = [payload(chunk * 100 + i) for i in range(100)]
        store.append(stream, "OrderFulfilment", chunk * 100, events)
    assert len(store.read_stream(stream)) == 1000
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        events_read = store.read_stream(stream)
        timings.append((time.perf_counter() - started) * 1000)
        assert len(events_read) == 1000
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def run_read_all(store: PostgresEventStore) -> tuple[float, int]:
    store.read_all(0, 1000)  # warm-up
    total = 0
    after = 0
    started = time.perf_counter()
    while page := store.read_all(after, 1000):
        total += len(page)
        after = page[-1].position
    return total / (time.perf_counter() - started), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=400, help="100-event transactions")
    parser.add_argument("--writers", type=int, default=1, help="concurrent batch writers")
    parser.add_argument("--single-seconds", type=float, default=3.0)
    parser.add_argument("--replay-runs", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with scratch_database(Settings.from_env()) as conninfo:
        batched = run_batched(conninfo, args.batches, args.writers)
        with PostgresEventStore(conninfo, pool_max_size=1) as store:
            single = run_single(store, args.single_seconds)
            replay_median, replay_p95 = run_replay(store, args.replay_runs)
            read_rate, read_total = run_read_all(store)
            assert store.verify().ok

    figures = Figures(
        batched_append_events_per_s=round(batched),
        batched_append_writers=args.writers,
        single_append_tx_per_s=round(single),
        replay_1000_events_median_ms=round(replay_median, 2),
        replay_1000_events_p95_ms=round(replay_p95, 2),
        read_all_events_per_s=round(read_rate),
        read_all_events=read_total,
    )
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
        return
    print(
        f"batched append : {figures.batched_append_events_per_s:>9,.0f} events/s "
        f"({BATCH_EVENTS}-event transactions, {args.writers} writer(s); target >= 20,000)"
    )
    print(
        f"single append  : {figures.single_append_tx_per_s:>9,.0f} transactions/s "
        "(one event each; a bare 1-row commit loop does ~480/s here)"
    )
    print(
        f"replay 1,000   : {figures.replay_1000_events_median_ms:>9.2f} ms median, "
        f"{figures.replay_1000_events_p95_ms:.2f} ms p95 (target <= 15 ms)"
    )
    print(
        f"read_all       : {figures.read_all_events_per_s:>9,.0f} events/s over "
        f"{figures.read_all_events:,} events (target >= 50,000)"
    )


if __name__ == "__main__":
    main()
