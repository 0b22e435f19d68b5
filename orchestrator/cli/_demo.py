"""`sagactl demo`: the order-fulfilment saga end to end on real Kafka and PostgreSQL.

Starts the worker and the three simulated participant services as child processes (the same
`sagactl worker` / `sagactl participant` an operator runs), starts N orders through the
participant SDK, waits until every saga is terminal, then prints a summary, the timeline
of one compensated saga and, when tracing is on (`make demo` turns it on, exporting to the
local Jaeger), that saga's trace id and its URL in the Jaeger UI. `--external-services` skips
the child processes (compose runs them).

Every wait is bounded and rides out a broker that has just started for the first time (see
`_waits.py`); a dependency that does not answer in time ends the demo with one line and exit 3.
"""

from __future__ import annotations

import os
import re
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
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from orchestrator.cli._output import EXIT_PROBLEM, EXIT_UNREACHABLE, fail
from orchestrator.cli._reach import Needs, requires
from orchestrator.cli._types import FiniteFloatRange
from orchestrator.cli._waits import NotReadyError, wait_until
from orchestrator.codec import RegistryUnavailableError
from orchestrator.config import Settings
from orchestrator.database import migrate
from orchestrator.kafka import TopicSetupError, admin_config, producer_config
from orchestrator.observability import (
    JaegerQuery,
    JaegerTrace,
    JaegerUnavailableError,
    flush_tracing,
    tracing_requested,
)
from orchestrator.outage import TRANSIENT_KAFKA_NAMES, describe
from orchestrator.participant import SagaStarter, StartNotAcknowledgedError
from orchestrator.runtime import App
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder

TERMINAL = ("completed", "compensated", "failed", "compensation_failed", "cancelled")
# Bounds of the start-up waits, in seconds. A broker's first start needs a few seconds after
# its first metadata answer before groups can form; these leave room for a loaded 2-core box.
KAFKA_ANSWER_S = 30.0
TOPICS_S = 60.0
GROUPS_S = 90.0
STARTS_S = 90.0
# The services flush their last spans as they exit; Jaeger indexes them within a second or two.
TRACE_ARRIVAL_S = 20.0


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
    try:
        _run(
            settings,
            orders=orders,
            rates={
                "credit": credit_failure_rate,
                "inventory": inventory_failure_rate,
                "shipping": shipping_failure_rate,
            },
            seed=seed,
            timeout_s=timeout_s,
            external_services=external_services,
        )
    # PostgreSQL or the registry going away outside the waits (which retry them both).
    except psycopg.OperationalError as exc:
        raise fail(f"demo: PostgreSQL did not answer: {describe(exc)}", EXIT_UNREACHABLE) from None
    except RegistryUnavailableError as exc:
        raise fail(f"demo: {describe(exc)}", EXIT_UNREACHABLE) from None


def _run(
    settings: Settings,
    *,
    orders: int,
    rates: dict[str, float],
    seed: int,
    timeout_s: float,
    external_services: bool,
) -> None:
    _wait_for_kafka(settings)
    migrate(settings.owner_database_url)
    app = App.from_settings(settings)
    log_dir = Path(tempfile.mkdtemp(prefix="saga-demo-"))
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not external_services:
            # Topics exist before anyone subscribes, so no consumer starts on a missing topic.
            _ensure_topics(settings, app)
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
                log_dir,
            )
        run_id = uuid.uuid4().hex[:8]
        click.echo(f"demo {run_id}: starting {orders} orders (logs in {log_dir})", err=True)
        started = time.monotonic()
        saga_ids = _start_orders(settings, app, run_id, orders)
        statuses = _wait_until_terminal(settings, saga_ids, timeout_s, children, log_dir)
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


def _quiet_admin(settings: Settings) -> AdminClient:
    # librdkafka would print every refused connection; the wait reports the outcome instead.
    return AdminClient({**admin_config(settings), "log_level": 0})


def _wait_for_kafka(settings: Settings) -> None:
    admin = _quiet_admin(settings)

    def answers() -> None:
        if not admin.list_topics(timeout=5).brokers:
            raise NotReadyError("the cluster reports no brokers")

    wait_until(f"demo: Kafka at {settings.kafka_bootstrap}", answers, within_s=KAFKA_ANSWER_S)


def _ensure_topics(settings: Settings, app: App) -> None:
    from orchestrator.runtime import Worker  # noqa: PLC0415

    def create() -> None:
        try:
            Worker.ensure_topics_for(settings, app.registry)
        except TopicSetupError as exc:
            # The error flattens each topic's KafkaError into text (`code=NAME,`): retry when
            # every code it names is one a starting broker returns, stop on anything else.
            named = set(re.findall(r"code=(\w+),", str(exc)))
            if named and named <= TRANSIENT_KAFKA_NAMES:
                raise NotReadyError(str(exc)) from exc
            raise fail(f"demo: {exc}", EXIT_PROBLEM) from None

    wait_until("demo: creating the topics", create, within_s=TOPICS_S)


def _check_children(children: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    for child in children:
        if child.poll() is not None:
            raise fail(
                f"demo: child process {child.pid} exited with status {child.returncode}; "
                f"its log is in {log_dir}",
                EXIT_PROBLEM,
            )


def _wait_for_groups(
    settings: Settings, groups: list[str], children: list[subprocess.Popen[bytes]], log_dir: Path
) -> None:
    """Wait until the worker and the services have joined their consumer groups, so saga
    durations measure sagas, not process start-up."""
    admin = _quiet_admin(settings)

    def stable() -> None:
        _check_children(children, log_dir)
        waiting: list[str] = []
        for group, future in admin.describe_consumer_groups(groups, request_timeout=5).items():
            try:
                description = future.result(10)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                    waiting.append(f"{group} not created yet")
                    continue
                raise
            if description.state != ConsumerGroupState.STABLE or not description.members:
                waiting.append(f"{group} {description.state.name.lower()}")
        if waiting:
            raise NotReadyError("; ".join(waiting))

    wait_until("demo: consumer groups", stable, within_s=GROUPS_S)


def _start_orders(settings: Settings, app: App, run_id: str, orders: int) -> list[str]:
    producer = Producer(producer_config(settings, client_id="sagactl-demo"))
    starter = SagaStarter(producer, app.codec)
    commands = [
        PlaceOrder(
            order_id=f"demo-{run_id}-{i:05d}",
            customer_id=f"customer-{i % 50}",
            sku=f"sku-{i % 20}",
            quantity=1 + i % 3,
            amount_cents=1000 + 37 * i,
            address=f"{i} Demo Street",
        )
        for i in range(orders)
    ]

    def start_all() -> list[str]:
        # Starting is idempotent (saga and message ids derive from the order id), so after a
        # timeout or a rejection every order is simply started again.
        saga_ids = [starter.start(OrderFulfilment, command, wait=False) for command in commands]
        try:
            starter.flush()
        except StartNotAcknowledgedError as exc:
            raise NotReadyError(str(exc)) from exc
        return saga_ids

    return wait_until("demo: starting the orders", start_all, within_s=STARTS_S)


def _wait_until_terminal(
    settings: Settings,
    saga_ids: list[str],
    timeout_s: float,
    children: list[subprocess.Popen[bytes]],
    log_dir: Path,
) -> dict[str, str]:
    last_report = time.monotonic()

    def all_terminal() -> dict[str, str]:
        nonlocal last_report
        _check_children(children, log_dir)
        # A connection per poll: one that breaks (PostgreSQL restarting) is simply retried.
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT stream_id, status FROM saga_instances WHERE stream_id = ANY(%s)",
                (saga_ids,),
            ).fetchall()
        statuses = {stream_id: status for stream_id, status in rows}
        done = sum(1 for status in statuses.values() if status in TERMINAL)
        if done == len(saga_ids):
            return statuses
        if time.monotonic() - last_report > 5:
            click.echo(f"  {done}/{len(saga_ids)} sagas terminal", err=True)
            last_report = time.monotonic()
        raise NotReadyError(f"{done} of {len(saga_ids)} sagas ended; logs in {log_dir}")

    return wait_until("demo: sagas ending", all_terminal, within_s=timeout_s)


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
            if tracing_requested():
                _trace_link(settings, conn, compensated[0])


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


def _trace_link(settings: Settings, conn: psycopg.Connection[Any], saga_id: str) -> None:
    """The compensated saga's trace: its id (from the traceparent its first event recorded),
    the Jaeger UI's URL for it, and which services Jaeger shows in it."""
    row = conn.execute(
        "SELECT metadata->>'traceparent' FROM events WHERE stream_id = %s ORDER BY version LIMIT 1",
        (saga_id,),
    ).fetchone()
    parts = (row[0] or "").split("-") if row else []
    if len(parts) != 4:
        click.echo(f"\nno trace recorded for saga {saga_id}")
        return
    trace_id, sampled = parts[1], int(parts[3], 16) & 1
    if not sampled:
        click.echo(f"\ntrace {trace_id} of saga {saga_id} was not sampled (OTEL_TRACES_SAMPLER)")
        return
    flush_tracing()
    jaeger = JaegerQuery(settings.jaeger_url)
    click.echo(f"\ntrace of compensated saga {saga_id}: {trace_id}")
    try:
        if jaeger.serves_ui():
            click.echo(f"  {jaeger.ui_url(trace_id)}")
        else:
            click.echo(
                f"  {jaeger.api_url(trace_id)}\n  (this Jaeger has no UI assets: the local "
                "stack's is built from the Go module, which does not carry them; the query API "
                f"answers, and a full Jaeger shows it at {jaeger.ui_url(trace_id)})"
            )
        found = jaeger.wait_for(trace_id, _looks_whole, within_s=TRACE_ARRIVAL_S)
    except JaegerUnavailableError as exc:
        click.echo(f"  (Jaeger did not answer: {exc})")
        return
    if found is None:
        click.echo(f"  (not in Jaeger at {settings.jaeger_url} after {TRACE_ARRIVAL_S:.0f}s)")
        return
    services = ", ".join(sorted(found.services))
    click.echo(f"  {len(found.spans)} spans from {len(found.services)} services: {services}")


def _looks_whole(trace: JaegerTrace) -> bool:
    # Every span's parent has arrived, and the worker's and some participant's spans are in.
    return not trace.orphans() and len(trace.services) >= 3
