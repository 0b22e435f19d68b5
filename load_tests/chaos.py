"""Chaos run: sagas under load while the worker is SIGKILLed and PostgreSQL and Kafka restart,
then an audit of every saga.

    python -m load_tests.chaos [--sagas 2000] [--rate 100]

Needs the project's own stack (`make up`): it restarts those servers through
`.devstack/stack.py restart`. Exits non-zero if the audit finds anything:
- a saga that is not terminal, or did not complete (the participants never fail here, and the
  outages are shorter than the step timeouts, so every saga must complete);
- a participant effect applied twice for one command message (inbox broken);
- a command issued twice for one step attempt, or a broken hash chain;
- anything on a dead-letter topic (outages must pause the worker, never dead-letter).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Producer

from event_store.postgres import PostgresEventStore
from load_tests._harness import (
    Children,
    Ticker,
    child_env,
    order_variant,
    scratch_database,
    scratch_topics,
)
from load_tests.bench_sagas import order
from orchestrator.config import Settings
from orchestrator.kafka import producer_config
from orchestrator.participant import SagaStarter
from orchestrator.runtime import Routes, build_codec, read_dead_letters
from orchestrator.saga import Saga, SagaRegistry

STACK = Path(__file__).resolve().parents[1] / ".devstack" / "stack.py"


def restart(server: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, str(STACK), "restart", server], check=True)
    return time.monotonic() - started


def produce_starts(
    settings: Settings,
    saga: type[Saga],
    *,
    n: int,
    rate: float,
    sent: list[str],
    done: threading.Event,
) -> None:
    """Start `n` sagas at `rate`/s, riding through broker restarts (the producer buffers)."""
    producer = Producer(producer_config(settings, client_id="chaos"))
    starter = SagaStarter(producer, build_codec(settings))
    ticker = Ticker(rate)
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        ticker.wait(time.monotonic())
        sent.append(starter.start(saga, order(i, run), wait=False))
        producer.poll(0)
    while producer.flush(10):
        pass
    done.set()


def audit(settings: Settings, registry: SagaRegistry, saga_ids: list[str]) -> list[str]:
    problems: list[str] = []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        statuses: dict[str, str] = dict(
            conn.execute(
                "SELECT stream_id, status FROM saga_instances WHERE stream_id = ANY(%s)",
                (saga_ids,),
            ).fetchall()
        )
        not_done = [s for s in saga_ids if statuses.get(s) != "completed"]
        if not_done:
            sample = {s: statuses.get(s) for s in not_done[:5]}
            problems.append(f"{len(not_done)} sagas did not complete, e.g. {sample}")
        doubled = conn.execute(
            "SELECT stream_id, data->>'message_id', count(*) FROM events "
            "WHERE event_type = 'CommandIssued' GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
        if doubled:
            problems.append(f"{len(doubled)} commands issued twice, e.g. {doubled[:3]}")
    # The participants' own tables belong to their database role (the owner, here).
    with psycopg.connect(settings.participant_database_url, autocommit=True) as conn:
        effects = conn.execute(
            "SELECT service, order_id, action, count(*) FROM participant_effects "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1"
        ).fetchall()
        if effects:
            problems.append(f"{len(effects)} effects applied twice, e.g. {effects[:3]}")
    with PostgresEventStore(settings.database_url) as store:
        report = store.verify()
        if not report.ok:
            problems.append(f"hash chain broken: {report}")
    for topic in Routes.of(registry).consumed:
        letters = read_dead_letters(settings, f"{topic}.dlt", limit=10, timeout_s=3)
        if letters:
            problems.append(f"{len(letters)}+ dead letters on {topic}.dlt")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="starts per second")
    parser.add_argument("--settle-timeout", type=float, default=240.0)
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="chaos-"))
    with scratch_database(Settings.from_env()) as settings:
        suffix = f"c{uuid.uuid4().hex[:6]}"
        saga = order_variant(suffix)
        registry = SagaRegistry([saga])
        env = child_env(settings, suffix, timeout_s=None)
        with scratch_topics(settings, saga):
            with Children(env, log_dir) as children:
                worker = children.start("worker", "worker")
                children.start("participants", "participant", "credit", "inventory", "shipping")
                sent: list[str] = []
                produced = threading.Event()
                producer = threading.Thread(
                    target=produce_starts,
                    args=(settings, saga),
                    kwargs={"n": args.sagas, "rate": args.rate, "sent": sent, "done": produced},
                    daemon=True,
                )
                producer.start()
                duration = args.sagas / args.rate
                time.sleep(duration * 0.2)
                print(f"chaos: SIGKILL worker after {len(sent)} starts", flush=True)
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                children.processes.pop("worker")
                time.sleep(2)
                children.start("worker", "worker")
                time.sleep(duration * 0.2)
                print(f"chaos: restart PostgreSQL ({restart('postgres'):.1f}s)", flush=True)
                time.sleep(duration * 0.2)
                print(f"chaos: restart Kafka ({restart('kafka'):.1f}s)", flush=True)
                producer.join(timeout=duration * 3 + 120)
                if not produced.is_set():
                    print("chaos: the producer did not finish", file=sys.stderr)
                    return 1
                deadline = time.monotonic() + args.settle_timeout
                with psycopg.connect(settings.database_url, autocommit=True) as conn:
                    while time.monotonic() < deadline:
                        row: Any = conn.execute(
                            "SELECT count(*) FROM saga_instances WHERE status = 'completed'"
                        ).fetchone()
                        if row[0] >= len(sent):
                            break
                        time.sleep(1)
            # The audit reads the dead-letter topics: before they are deleted.
            problems = audit(settings, registry, sent)
    print(f"chaos: {len(sent)} sagas audited; logs in {log_dir}")
    for problem in problems:
        print(f"chaos: PROBLEM {problem}", file=sys.stderr)
    if not problems:
        print("chaos: every saga completed; nothing doubled, nothing dead-lettered, chains verify")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
