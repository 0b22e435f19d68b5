"""Shared plumbing for the load tests: a scratch database, an isolated variant of the order saga
(own topics, so runs never see each other's messages), and the worker and participant services
as child processes, exactly as `sagactl worker` / `sagactl participant` run them.

A child process re-creates the same variant from SAGA_BENCH_SUFFIX and SAGA_BENCH_TIMEOUT_S,
so `SAGA_SAGAS=load_tests._harness:Variant` names it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient
from psycopg import sql

from event_store.migrations import migrate
from orchestrator.config import Settings
from orchestrator.kafka import admin_config, dead_letter_topic
from orchestrator.runtime import Routes, Worker
from orchestrator.saga import Saga, SagaRegistry, Step, Topics
from sagas.order_fulfilment import OrderFulfilment

SUPERUSER_URL = os.environ.get(
    "SAGA_SUPERUSER_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5433/postgres"
)


def order_variant(suffix: str, timeout: timedelta | None = None) -> type[Saga]:
    """OrderFulfilment with every topic suffixed (and, optionally, every step timeout set)."""

    def adjust(step: Step[Any, Any, Any, Any]) -> Step[Any, Any, Any, Any]:
        return step if timeout is None else dataclasses.replace(step, timeout=timeout)

    return OrderFulfilment.variant(
        name=f"order_{suffix}", topics=Topics(suffix=f".{suffix}"), adjust=adjust
    )


def _variant_from_env() -> type[Saga] | None:
    suffix = os.environ.get("SAGA_BENCH_SUFFIX")
    if not suffix:
        return None
    seconds = os.environ.get("SAGA_BENCH_TIMEOUT_S")
    return order_variant(suffix, timedelta(seconds=float(seconds)) if seconds else None)


# Present only in child processes started by `spawn`: the name SAGA_SAGAS points at.
Variant = _variant_from_env()


@contextmanager
def scratch_topics(settings: Settings, saga: type[Saga]) -> Iterator[None]:
    """The variant's topics, created now and deleted afterwards: hundreds of leftover topics
    from earlier runs would leave the broker more work on every later run."""
    Worker.ensure_topics_for(settings, SagaRegistry([saga]))
    try:
        yield
    finally:
        admin = AdminClient(admin_config(settings))
        topics = set(admin.list_topics(timeout=10).topics)
        routes = Routes.of(SagaRegistry([saga]))
        names = sorted(
            name
            for topic in set(routes.consumed) | routes.command_topics
            for name in (topic, dead_letter_topic(topic))
            if name in topics
        )
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                # Best effort: a leftover topic only costs the broker a little.
                with contextlib.suppress(Exception):
                    future.result(30)


def with_database(url: str, database: str) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(url)
    parts["dbname"] = database
    return psycopg.conninfo.make_conninfo("", **parts)


@contextmanager
def scratch_database(settings: Settings) -> Iterator[Settings]:
    """A fresh, migrated database for one run; dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SUPERUSER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER saga_owner").format(sql.Identifier(name)))
    scratch = settings.model_copy(
        update={
            "database_url": with_database(settings.database_url, name),
            "owner_database_url": with_database(settings.owner_database_url, name),
            "participant_database_url": with_database(settings.participant_database_url, name),
        }
    )
    try:
        migrate(scratch.owner_database_url)
        yield scratch
    finally:
        with psycopg.connect(SUPERUSER_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def child_env(settings: Settings, suffix: str, timeout_s: float | None) -> dict[str, str]:
    env = {
        **os.environ,
        "SAGA_DATABASE_URL": settings.database_url,
        "SAGA_OWNER_DATABASE_URL": settings.owner_database_url,
        "SAGA_PARTICIPANT_DATABASE_URL": settings.participant_database_url,
        "SAGA_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SAGA_CONSUMER_GROUP": f"bench-{suffix}",
        "SAGA_SAGAS": "load_tests._harness:Variant",
        "SAGA_BENCH_SUFFIX": suffix,
        "SAGA_LOG_FORMAT": "json",
        "SAGA_LOG_LEVEL": "warning",
    }
    if timeout_s is not None:
        env["SAGA_BENCH_TIMEOUT_S"] = str(timeout_s)
    return env


class Children:
    """The worker and participant processes of one run; stopped with SIGTERM on exit."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self._env = env
        self._log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env,
        )
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()

    def roles(self) -> dict[int, str]:
        return {process.pid: name for name, process in self.processes.items()}

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self._log_dir}")

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.processes):
            self.stop(name)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_group(pid: int, children: dict[int, str]) -> str | None:
    if pid in children:
        return children[pid]
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    if cmdline.startswith(b"postgres") or b"/postgresql/" in cmdline:
        return "postgres"
    if b"kafka.Kafka" in cmdline:
        return "kafka"
    return "bench" if pid == os.getpid() else None


def cpu_seconds(children: dict[int, str]) -> dict[str, float]:
    """CPU time (user + system) so far of this run's processes, by role: the named children,
    every PostgreSQL process, the Kafka broker and the benchmark itself; plus the whole
    machine's busy time ("machine"), so nothing else eating CPU goes unseen."""
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        group = _process_group(int(entry.name), children)
        if group is None:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # utime and stime are fields 14 and 15 of /proc/<pid>/stat (1-based, after the name).
        ticks = int(fields[11]) + int(fields[12])
        totals[group] = totals.get(group, 0.0) + ticks / _CLOCK_TICKS
    # /proc/stat "cpu": user nice system idle iowait irq softirq steal ...
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(cpu) if i not in (3, 4))
    totals["machine"] = busy / _CLOCK_TICKS
    return totals


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Ticker:
    """Paces a loop at `rate` iterations per second (no drift accumulation)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0
        self._event = threading.Event()

    def wait(self, now: float) -> None:
        if self._next == 0.0:
            self._next = now
        self._next += self._interval
        delay = self._next - now
        if delay > 0:
            self._event.wait(delay)
