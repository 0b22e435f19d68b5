"""`sagactl demo`: the order-fulfilment saga end to end on real Kafka and PostgreSQL.

Starts the worker and the three simulated participant services as child processes (the same
`sagactl worker` / `sagactl participant` an operator runs), starts N orders through the
participant SDK, waits until every saga is terminal, then prints a summary and the timeline
of one compensated saga. `--external-services` skips the child processes (compose runs them).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import psycopg
from confluent_kafka import ConsumerGroupState, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from event_store.migrations import migrate
from orchestrator.cli._reach import Needs, requires
from orchestrator.cli._types import FiniteFloatRange
from orchestrator.config import Settings
from orchestrator.participant import SagaStarter
from orchestrator.runtime import App
from orchestrator.runtime._kafka_config import producer_config
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder

TERMINAL = ("completed", "compensated", "failed", "compensation_failed", "cancelled")


@click.command()
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--credit-failure-rate", default=0.10, show_default=True, type=FiniteFloatRange(0, 1))
@click.option(
    "--inventory-failure-rate", default=0.05, show_default=True, type=FiniteFloatRange(0, 1)
)
@click.option(
    "--shipping-failure-rate", default=0.05, show_default=True, type=FiniteFloatRange(0, 1)
)
@click.option("--seed", default=7, show_default=True, help="Repeatable simulated outcomes.")
@click.option(
    "--timeout",
    "timeout_s",
    default=180.0,
    show_default=True,
    type=FiniteFloatRange(min=0, min_open=True),
    help="Seconds to wait for the sagas to end.",
)
@click.option(
    "--external-services",
    is_flag=True,
    help="Do not start the worker and participants (they already run, e.g. under compose).",
)
# Settings and databases: waiting for a broker that may be starting for the first time is
# the demo's own bounded wait.
@requires(Needs.OWNER_DATABASE, Needs.DATABASE)
def demo(
    orders: int,
    credit_failure_rate: float,
    inventory_failure_rate: float,
    shipping_failure_rate: float,
    seed: int,
    timeout_s: float,
    external_services: bool,
) -> None:
    """Run N orders through the order-fulfilment saga and report how they ended."""
    settings = Settings.from_env()
    migrate(settings.owner_database_url)
    app = App.from_settings(settings)
    log_dir = Path(tempfile.mkdtemp(prefix="saga-demo-"))
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not external_services:
            # Topics exist before anyone subscribes, so no consumer starts on a missing topic.
            from orchestrator.runtime import Worker  # noqa: PLC0415

            Worker.ensure_topics_for(settings, app.registry)
            rates = {
                "credit": credit_failure_rate,
                "inventory": inventory_failure_rate,
                "shipping": shipping_failure_rate,
            }
            children.append(_spawn(["worker"], log_dir / "worker.log"))
            for service, rate in rates.items():
                children.append(
                    _spawn(
                        ["participant", service, "--failure-rate", str(rate), "--seed", str(seed)],
                        log_dir / f"participant-{service}.log",
                    )
                )
            _wait_for_groups(
                settings,
                [settings.consumer_group, *(f"participant-{service}" for service in rates)],
                children,
            )
        run_id = uuid.uuid4().hex[:8]
        click.echo(f"demo {run_id}: starting {orders} orders (logs in {log_dir})", err=True)
        started = time.monotonic()
        saga_ids = _start_orders(settings, app, run_id, orders)
        statuses = _wait_until_terminal(settings, saga_ids, timeout_s, children)
        elapsed = time.monotonic() - started
    finally:
        _stop(children)
    _report(settings, saga_ids, statuses, elapsed)


def _spawn(args: Sequence[str], log_file: Path) -> subprocess.Popen[bytes]:
    handle = log_file.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "SAGA_LOG_FORMAT": "json"},
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()  # SIGTERM: finish the batch, commit, exit 0
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def _wait_for_groups(
    settings: Settings, groups: list[str], children: list[subprocess.Popen[bytes]]
) -> None:
    """Wait until the worker and the services have joined their consumer groups, so saga
    durations measure sagas, not process start-up."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise click.ClickException(f"child process {child.pid} exited during start-up")
        described = admin.describe_consumer_groups(groups)
        try:
            ready = all(
                future.result(10).state == ConsumerGroupState.STABLE and future.result(10).members
                for future in described.values()
            )
        except KafkaException:
            ready = False
        if ready:
            return
        time.sleep(0.5)
    raise click.ClickException(f"consumer groups {groups} not ready within 90 s")


def _start_orders(settings: Settings, app: App, run_id: str, orders: int) -> list[str]:
    producer = Producer(producer_config(settings, client_id="sagactl-demo"))
    starter = SagaStarter(producer, app.codec)
    saga_ids = [
        starter.start(
            OrderFulfilment,
            PlaceOrder(
                order_id=f"demo-{run_id}-{i:05d}",
                customer_id=f"customer-{i % 50}",
                sku=f"sku-{i % 20}",
                quantity=1 + i % 3,
                amount_cents=1000 + 37 * i,
                address=f"{i} Demo Street",
            ),
            wait=False,
        )
        for i in range(orders)
    ]
    starter.flush()
    return saga_ids


def _wait_until_terminal(
    settings: Settings,
    saga_ids: list[str],
    timeout_s: float,
    children: list[subprocess.Popen[bytes]],
) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    statuses: dict[str, str] = {}
    last_report = 0.0
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT stream_id, status FROM saga_instances WHERE stream_id = ANY(%s)",
                (saga_ids,),
            ).fetchall()
            statuses = {stream_id: status for stream_id, status in rows}
            done = sum(1 for status in statuses.values() if status in TERMINAL)
            if done == len(saga_ids):
                return statuses
            for child in children:
                if child.poll() is not None:
                    raise click.ClickException(
                        f"child process {child.pid} exited with status "
                        f"{child.returncode}; see its log in the folder named above"
                    )
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"only {done} of {len(saga_ids)} sagas finished within {timeout_s:.0f}s"
                )
            if time.monotonic() - last_report > 5:
                click.echo(f"  {done}/{len(saga_ids)} sagas terminal", err=True)
                last_report = time.monotonic()
            time.sleep(0.2)


def _durations(conn: psycopg.Connection[Any], saga_ids: list[str]) -> dict[str, float]:
    rows = conn.execute(
        "SELECT stream_id, max(recorded_at) - min(recorded_at) FROM events "
        "WHERE stream_id = ANY(%s) GROUP BY stream_id",
        (saga_ids,),
    ).fetchall()
    return {stream_id: span.total_seconds() for stream_id, span in rows}


def _percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _report(
    settings: Settings, saga_ids: list[str], statuses: dict[str, str], elapsed: float
) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        durations = _durations(conn, saga_ids)
        by_status: dict[str, list[float]] = {}
        for saga_id, status in statuses.items():
            by_status.setdefault(status, []).append(durations.get(saga_id, 0.0))
        counts = Counter(statuses.values())
        click.echo(f"{'status':<22}{'sagas':>7}{'p50 ms':>10}{'p99 ms':>10}")
        for status in TERMINAL:
            values = sorted(by_status.get(status, []))
            if not values:
                click.echo(f"{status:<22}{0:>7}{'-':>10}{'-':>10}")
                continue
            p50, p99 = _percentile(values, 0.5) * 1000, _percentile(values, 0.99) * 1000
            click.echo(f"{status:<22}{counts[status]:>7}{p50:>10.0f}{p99:>10.0f}")
        every = sorted(durations.values())
        click.echo(
            f"{'all':<22}{len(saga_ids):>7}{_percentile(every, 0.5) * 1000:>10.0f}"
            f"{_percentile(every, 0.99) * 1000:>10.0f}"
        )
        click.echo(f"\n{len(saga_ids)} sagas in {elapsed:.1f}s ({len(saga_ids) / elapsed:.0f}/s)")
        compensated = [s for s, status in statuses.items() if status == "compensated"]
        if compensated:
            _timeline(conn, compensated[0])


def _timeline(conn: psycopg.Connection[Any], saga_id: str) -> None:
    rows = conn.execute(
        "SELECT version, event_type, data, recorded_at FROM events "
        "WHERE stream_id = %s ORDER BY version",
        (saga_id,),
    ).fetchall()
    click.echo(f"\ntimeline of compensated saga {saga_id}:")
    first: datetime = rows[0][3]
    for version, event_type, data, recorded_at in rows:
        offset_ms = (recorded_at - first).total_seconds() * 1000
        detail = " ".join(
            f"{key}={data[key]}"
            for key in ("step", "attempt", "compensation", "reason", "purpose")
            if key in data and data[key] is not None
        )
        click.echo(f"  {offset_ms:>8.1f} ms  #{version:<3} {event_type:<22} {detail}".rstrip())
