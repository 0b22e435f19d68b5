"""Saga benchmark on this machine: real Kafka, real PostgreSQL, `sagactl worker` and the three
simulated participant services as separate processes.

    python -m load_tests.bench_sagas [--sagas 5000] [--memory-sagas 100000]

Prints (and writes to load_tests/results/bench_sagas.json):
- throughput: completed order sagas per second, N sagas started as fast as the producer can
  (after a warm-up), timed from the first start sent to the last SagaCompleted committed;
- latency at half that load (and at each --latency-rate): p50/p99 from a start being sent to
  its SagaCompleted commit;
- worker memory: resident set size with `--memory-sagas` sagas in flight (participants off,
  step timeouts of an hour, so every saga waits at its first step with its state cached).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Producer
from psycopg.conninfo import conninfo_to_dict

from event_store.postgres import PostgresEventStore
from load_tests._harness import (
    Children,
    Ticker,
    child_env,
    order_variant,
    rss_bytes,
    scratch_database,
    scratch_topics,
)
from orchestrator.config import Settings
from orchestrator.kafka import producer_config
from orchestrator.observability import configure_tracing
from orchestrator.participant import SagaStarter
from orchestrator.runtime import build_codec
from orchestrator.saga import Saga
from sagas.order_messages import PlaceOrder

RESULTS = Path(__file__).resolve().parent / "results"


def order(i: int, run: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=f"{run}-{i:07d}",
        customer_id=f"c{i % 97}",
        sku=f"sku-{i % 13}",
        quantity=1 + i % 3,
        amount_cents=1000 + i % 5000,
        address="1 Bench Road",
    )


class Tally:
    """Counts events of some types as they commit, tailing the log like the outbox relay does
    (gap-safe, filtered by type), so each poll reads only what is new.

    The first version polled `SELECT count(*) ... WHERE event_type = ...` ten times a second:
    a sequential scan of the whole events table each time, which took a growing share of the
    very PostgreSQL CPU being measured (runs of 20,000 sagas came out slower than runs of 5,000).
    """

    def __init__(self, store: PostgresEventStore, event_types: tuple[str, ...]) -> None:
        self._store = store
        self._types = event_types
        self._position = 0
        self.counts: Counter[str] = Counter()
        self.recorded_at: dict[str, datetime] = {}  # stream id -> when its last counted event was

    def poll(self) -> None:
        while True:
            events, self._position = self._store.read_type(self._position, self._types, 5000)
            for event in events:
                self.counts[event.event_type] += 1
                self.recorded_at[event.stream_id] = event.recorded_at
            if len(events) < 5000:
                return

    def wait_for(self, event_type: str, target: int, children: Children, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if self.counts[event_type] >= target:
                return
            children.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.counts[event_type]}/{target} {event_type} in {timeout_s}s"
                )
            time.sleep(0.1)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone meanwhile
    # utime and stime are fields 14 and 15 of /proc/<pid>/stat (1-based, after the name).
    return int(fields[11]) + int(fields[12])


def _listening_pid(port: int) -> int | None:
    """The process with a TCP socket listening on `port` (the broker the run talks to)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            descriptors = list((entry / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read
        for fd in descriptors:
            try:
                if os.readlink(fd) in inodes:
                    return int(entry.name)
            except OSError:
                continue  # closed meanwhile: a busy broker opens and closes sockets all along
    return None


class RunCpu:
    """CPU seconds of this run's processes only, by role: the named children, the benchmark
    itself, the PostgreSQL backends serving the run's database, and the broker it talks to.

    The machine is shared (other runs, other brokers, other databases on the same server), so
    the earlier "every postgres and every kafka.Kafka process" counted their work too, and a
    broker of someone else's that exited mid-run made Kafka's figure negative. Backends that
    connect and disconnect between the two samples are missed; the run's clients hold pooled
    connections, so that is next to nothing. The broker is shared with whatever else uses it."""

    def __init__(self, settings: Settings, children: Children) -> None:
        self._database = str(conninfo_to_dict(settings.database_url).get("dbname", ""))
        self._settings = settings
        self._children = children
        port = int(settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])
        self._broker = _listening_pid(port)
        if self._broker is None:
            raise RuntimeError(f"no process listens on port {port}: cannot count the broker")

    def _pids(self) -> dict[int, str]:
        pids = dict(self._children.roles())
        pids[os.getpid()] = "bench"
        if self._broker is not None:
            pids[self._broker] = "kafka"
        with psycopg.connect(self._settings.owner_database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self._database],
            ).fetchall()
        for (pid,) in rows:
            pids[int(pid)] = "postgres"
        return pids

    def sample(self) -> dict[int, tuple[str, int]]:
        sampled = {}
        for pid, role in self._pids().items():
            ticks = _ticks(pid)
            if ticks is not None:
                sampled[pid] = (role, ticks)
        return sampled

    @staticmethod
    def machine() -> float:
        # /proc/stat "cpu": user nice system idle iowait irq softirq steal ...
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        return sum(int(v) for i, v in enumerate(cpu) if i not in (3, 4)) / _CLOCK_TICKS

    @staticmethod
    def seconds(
        before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
    ) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, (role, ticks) in after.items():
            earlier = before.get(pid)
            spent = ticks - (earlier[1] if earlier is not None else 0)
            totals[role] = totals.get(role, 0.0) + spent / _CLOCK_TICKS
        return totals


def throughput(
    settings: Settings, saga: type[Saga], tally: Tally, children: Children, n: int
) -> tuple[float, dict[str, float]]:
    """Completed sagas per second, and the CPU seconds each role spent per 1,000 sagas."""
    producer = Producer(producer_config(settings, client_id="bench"))
    starter = SagaStarter(producer, build_codec(settings))
    run = uuid.uuid4().hex[:6]
    tally.poll()
    done_before = tally.counts["SagaCompleted"]
    accounting = RunCpu(settings, children)
    cpu_before, machine_before = accounting.sample(), accounting.machine()
    started = time.monotonic()
    for i in range(n):
        starter.start(saga, order(i, run), wait=False)
    starter.flush()
    tally.wait_for("SagaCompleted", done_before + n, children, timeout_s=max(120.0, n / 20))
    elapsed = time.monotonic() - started
    spent = accounting.seconds(cpu_before, accounting.sample())
    spent["machine"] = accounting.machine() - machine_before
    cpu = {role: spent[role] * 1000 / n for role in sorted(spent)}
    cpu["machine_idle_share"] = 1 - cpu["machine"] * n / 1000 / (elapsed * (os.cpu_count() or 1))
    return n / elapsed, cpu


def latency(
    settings: Settings,
    saga: type[Saga],
    tally: Tally,
    children: Children,
    *,
    rate: float,
    seconds: float,
) -> list[float]:
    producer = Producer(producer_config(settings, client_id="bench-latency"))
    starter = SagaStarter(producer, build_codec(settings))
    run = uuid.uuid4().hex[:6]
    sent: dict[str, datetime] = {}
    ticker = Ticker(rate)
    total = int(rate * seconds)
    tally.poll()
    done_before = tally.counts["SagaCompleted"]
    for i in range(total):
        ticker.wait(time.monotonic())
        sent[starter.start(saga, order(i, run), wait=False)] = datetime.now(UTC)
        producer.poll(0)
    starter.flush()
    tally.wait_for("SagaCompleted", done_before + total, children, timeout_s=120)
    return sorted((tally.recorded_at[s] - at).total_seconds() for s, at in sent.items())


def memory(settings: Settings, n: int, log_dir: Path) -> dict[str, float]:
    suffix = f"m{uuid.uuid4().hex[:6]}"
    saga = order_variant(suffix)
    with (
        scratch_topics(settings, saga),
        Children(child_env(settings, suffix, timeout_s=3600), log_dir) as children,
    ):
        worker = children.start("memory-worker", "worker")
        store = PostgresEventStore(settings.database_url)
        tally = Tally(store, ("SagaStarted",))
        tally.poll()
        baseline = tally.counts["SagaStarted"]
        producer = Producer(producer_config(settings, client_id="bench-memory"))
        starter = SagaStarter(producer, build_codec(settings))
        time.sleep(5.0)  # imports done, group joined: the baseline of an idle worker
        idle_rss = rss_bytes(worker.pid)
        started = time.monotonic()
        for i in range(n):
            starter.start(saga, order(i, suffix), wait=False)
            if i % 10_000 == 0:
                producer.poll(0)
        starter.flush()
        tally.wait_for("SagaStarted", baseline + n, children, timeout_s=max(300.0, n / 100))
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # let the last batch's cache entries land
        loaded_rss = rss_bytes(worker.pid)
        store.close()
    return {
        "sagas_in_flight": n,
        "start_rate_per_s": n / elapsed,
        "worker_rss_idle_mib": idle_rss / 2**20,
        "worker_rss_loaded_mib": loaded_rss / 2**20,
        "bytes_per_saga": (loaded_rss - idle_rss) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=5000, help="sagas in the throughput run")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--latency-rate",
        type=float,
        action="append",
        default=[],
        help="also measure latency at this many starts/s (repeatable); half the throughput always",
    )
    parser.add_argument("--memory-sagas", type=int, default=100_000, help="0 skips it")
    parser.add_argument(
        "--projector",
        choices=["separate", "worker"],
        default="separate",
        help="run the projections in their own process (sagactl projector) or in the worker",
    )
    args = parser.parse_args()
    # Off unless OTEL_* asks (bench_tracing does): then the starts are the traces' roots.
    configure_tracing("saga-bench")
    base = Settings.from_env()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-sagas-"))
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "logs": str(log_dir)}
    with scratch_database(base) as settings:
        suffix = f"b{uuid.uuid4().hex[:6]}"
        saga = order_variant(suffix)
        env = child_env(settings, suffix, timeout_s=None)
        if args.projector == "separate":
            env["SAGA_WORKER_PROJECTOR"] = "false"
        results["projector"] = args.projector
        store = PostgresEventStore(settings.database_url)
        tally = Tally(store, ("SagaCompleted",))
        with scratch_topics(settings, saga), Children(env, log_dir) as children:
            children.start("worker", "worker")
            if args.projector == "separate":
                children.start("projector", "projector")
            children.start("participants", "participant", "credit", "inventory", "shipping")
            throughput(settings, saga, tally, children, args.warmup)
            rate, cpu = throughput(settings, saga, tally, children, args.sagas)
            results["throughput_sagas_per_s"] = rate
            results["cpu_seconds_per_1000_sagas"] = dict(cpu)
            print(f"throughput: {rate:.0f} completed sagas/s ({args.sagas} sagas)", flush=True)
            idle = cpu.pop("machine_idle_share")
            # The figure to compare releases by: every process of the run, the machine aside
            # (it also counts whatever else the box was doing).
            processes = sum(seconds for role, seconds in cpu.items() if role != "machine")
            results["cpu_seconds_per_1000_sagas_all_processes"] = processes
            print(
                "CPU s per 1000 sagas: "
                + ", ".join(f"{role} {seconds:.2f}" for role, seconds in cpu.items())
                + f"; all processes {processes:.2f}; machine idle {idle:.0%}",
                flush=True,
            )
            results["latency"] = []
            for load in [rate / 2, *args.latency_rate]:
                durations = latency(
                    settings, saga, tally, children, rate=load, seconds=args.latency_seconds
                )
                quantiles = statistics.quantiles(durations, n=100, method="inclusive")
                results["latency"].append(
                    {
                        "rate_per_s": load,
                        "sagas": len(durations),
                        "p50_ms": quantiles[49] * 1000,
                        "p99_ms": quantiles[98] * 1000,
                    }
                )
                print(
                    f"latency at {load:.0f}/s: p50 {quantiles[49] * 1000:.0f} ms, "
                    f"p99 {quantiles[98] * 1000:.0f} ms ({len(durations)} sagas)",
                    flush=True,
                )
        if args.memory_sagas:
            results["memory"] = memory(settings, args.memory_sagas, log_dir)
            m = results["memory"]
            print(
                f"memory: worker RSS {m['worker_rss_loaded_mib']:.0f} MiB with "
                f"{args.memory_sagas} sagas in flight (idle {m['worker_rss_idle_mib']:.0f} MiB, "
                f"{m['bytes_per_saga']:.0f} B/saga)",
                flush=True,
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_sagas.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
