"""`sagactl saga ...`: look at saga instances and act on them.

Reads come from the event store (history, point-in-time replay) and the `saga_instances`
projection (listing). Operator actions are control messages on the saga's reply topic, so the
worker that owns the saga decides them and they are recorded as events like everything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import psycopg
from confluent_kafka import KafkaException, Producer

from event_store.projections import ACTIVE_STATUSES, InstanceFilter, PostgresProjections
from orchestrator import headers as h
from orchestrator.cli._output import (
    EXIT_PROBLEM,
    EXIT_UNREACHABLE,
    emit,
    fail,
    first_line,
    output_option,
)
from orchestrator.cli._reach import Needs, require_kafka, requires
from orchestrator.cli._status_at import UNREGISTERED, StatusAt, statuses_at
from orchestrator.cli._types import (
    SAGA_LIST_STATUSES,
    Cursor,
    Duration,
    Instant,
    PageCursor,
    StreamId,
    Text,
)
from orchestrator.config import Settings
from orchestrator.kafka import DeliveryTracker, PublishError, producer_config
from orchestrator.messages import Message
from orchestrator.runtime import App
from orchestrator.saga import CancelSaga, ResolveSaga, RetryStep
from orchestrator.saga.events import event_from_recorded

# A malformed id is bad usage, said before anything is read (not a store traceback).
_saga_id_argument = click.argument("saga_id", type=StreamId("saga id"))


@click.group()
def saga() -> None:
    """Saga instances: list, stuck, show, history (point-in-time replay), cancel, retry, resolve."""


_LIST_COLUMNS = ("saga_id", "type", "status", "step", "business_key", "updated_at")


@saga.command("list")
@click.option("--type", "saga_type", type=Text(), help="Only sagas of this type.")
@click.option(
    "--status",
    type=click.Choice(SAGA_LIST_STATUSES),
    help="Only instances in this status.",
)
@click.option("--since", type=Instant(), help="Only sagas whose last event is at or after this.")
@click.option("--until", type=Instant(), help="Only sagas whose last event is at or before this.")
@click.option(
    "--stuck-for",
    type=Duration(),
    help="Only started, running or compensating sagas with no event for this long (10m, 2h).",
)
@click.option(
    "--at",
    type=Instant(),
    help="Statuses as they were at this instant, folded from the log (listed by saga id).",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--after", "cursor", type=Cursor(), help="Continue after the page that printed this cursor."
)
@output_option
@requires(Needs.DATABASE)
def list_(
    saga_type: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    stuck_for: timedelta | None,
    at: datetime | None,
    limit: int,
    cursor: PageCursor | None,
    output: str,
) -> None:
    """Saga instances, most recently updated first (by saga id with --at).

    When more rows match than --limit, the last line on stderr is `next page: --after CURSOR`;
    run the same command with it for the next page."""
    if since is not None and until is not None and since > until:
        raise click.UsageError("--since is after --until: no saga can match")
    if cursor is not None and (cursor.updated_at is None) != (at is not None):
        raise click.BadParameter(
            "this cursor comes from a listing "
            + ("without --at" if at is not None else "with --at"),
            param_hint="'--after'",
        )
    settings = Settings.from_env()
    try:
        if at is None:
            rows, more = _current_page(
                settings,
                InstanceFilter(
                    saga_type=saga_type,
                    status=status,
                    updated_since=since,
                    updated_until=until,
                    idle_since=None if stuck_for is None else datetime.now(UTC) - stuck_for,
                ),
                cursor,
                limit,
            )
        else:
            rows, more = _page_at(
                settings, at, saga_type, status, since, until, stuck_for, cursor, limit
            )
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL unreachable: {first_line(exc)}", EXIT_UNREACHABLE) from None
    emit(rows, output, _LIST_COLUMNS)
    if more is not None:
        click.echo(f"next page: --after {more}", err=True)


def _current_page(
    settings: Settings, where: InstanceFilter, cursor: PageCursor | None, limit: int
) -> tuple[list[dict[str, object]], PageCursor | None]:
    after = None
    if cursor is not None and cursor.updated_at is not None:
        after = (cursor.updated_at, cursor.stream_id)
    with PostgresProjections(settings.database_url) as projections:
        # One row more than shown says whether a next page exists, without counting.
        found = projections.saga_instance_page(where, after=after, limit=limit + 1)
    shown = found[:limit]
    rows: list[dict[str, object]] = [
        {
            "saga_id": r.stream_id,
            "type": r.saga_type,
            "status": r.status,
            "step": r.current_step,
            "business_key": r.business_key,
            "updated_at": r.updated_at,
        }
        for r in shown
    ]
    more = PageCursor(shown[-1].stream_id, shown[-1].updated_at) if len(found) > limit else None
    return rows, more


def _page_at(
    settings: Settings,
    at: datetime,
    saga_type: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    stuck_for: timedelta | None,
    cursor: PageCursor | None,
    limit: int,
) -> tuple[list[dict[str, object]], PageCursor | None]:
    registry = App.from_settings(settings).registry
    idle_since = None if stuck_for is None else at - stuck_for

    def wanted(row: StatusAt) -> bool:
        return (
            (status is None or row.status == status)
            and (since is None or row.updated_at >= since)
            and (until is None or row.updated_at <= until)
            and (
                idle_since is None
                or (row.status in ACTIVE_STATUSES and row.updated_at <= idle_since)
            )
        )

    found: list[StatusAt] = []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        after = "" if cursor is None else cursor.stream_id
        rows_at = statuses_at(
            conn,
            registry,
            at,
            after=after,
            saga_type=saga_type,
            updated_since=since,
            updated_until=until,
            # A page's worth first: an unfiltered first page folds limit + 1 sagas, no more.
            first_batch=limit + 1,
        )
        for row in rows_at:
            if wanted(row):
                found.append(row)
                if len(found) > limit:
                    break
    shown = found[:limit]
    rows: list[dict[str, object]] = [
        {
            "saga_id": r.saga_id,
            "type": r.saga_type,
            "status": r.status,
            "step": r.step,
            "business_key": r.business_key,
            "updated_at": r.updated_at,
        }
        for r in shown
    ]
    unregistered = sum(1 for r in shown if r.status == UNREGISTERED)
    if unregistered:
        click.echo(
            f"{unregistered} saga(s) of a type or version not in SAGA_SAGAS: status "
            f"{UNREGISTERED!r}",
            err=True,
        )
    return rows, PageCursor(shown[-1].saga_id) if len(found) > limit else None


@saga.command()
@click.option(
    "--older-than",
    required=True,
    type=Duration(),
    help="No event for at least this long (30s, 10m, 2h, 1d).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@output_option
@requires(Needs.DATABASE)
def stuck(older_than: timedelta, limit: int, output: str) -> None:
    """Started, running or compensating sagas with no event for --older-than, the longest
    silent first, with the step each waits on and since when."""
    settings = Settings.from_env()
    now = datetime.now(UTC)
    try:
        with PostgresProjections(settings.database_url) as projections:
            found = projections.stuck_sagas(older_than, now, limit + 1)
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL unreachable: {first_line(exc)}", EXIT_UNREACHABLE) from None
    emit(
        [
            {
                "saga_id": r.stream_id,
                "type": r.saga_type,
                "status": r.status,
                "waiting_on": r.current_step,
                "since": r.updated_at,
                "silent_for": _seconds(now - r.updated_at),
            }
            for r in found[:limit]
        ],
        output,
        ("saga_id", "type", "status", "waiting_on", "since", "silent_for"),
    )
    if len(found) > limit:
        click.echo(f"more than {limit} stuck sagas; raise --limit to see them all", err=True)


def _seconds(duration: timedelta) -> str:
    return f"{int(duration.total_seconds())}s"


@saga.command()
@_saga_id_argument
@click.option(
    "--at",
    "until",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"]),
    help="Replay only the events recorded before this instant (ISO-8601 with offset).",
)
@output_option
@requires(Needs.DATABASE)
def history(saga_id: str, until: datetime | None, output: str) -> None:
    """The saga's events and the state they replay to (optionally as of --at)."""
    app = App.from_settings(Settings.from_env())
    store = app.event_store()
    try:
        recorded = (
            store.read_stream(saga_id) if until is None else store.read_stream_until(saga_id, until)
        )
        if not recorded:
            raise fail(f"no events for saga {saga_id}", EXIT_PROBLEM)
        instance = app.registry.replay(recorded)
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL unreachable: {first_line(exc)}", EXIT_UNREACHABLE) from None
    finally:
        store.close()
    rows = []
    for event in recorded:
        data = event.data
        rows.append(
            {
                "version": event.version,
                "recorded_at": event.recorded_at.isoformat(timespec="milliseconds"),
                "event": event.event_type,
                "step": data.get("step"),
                "attempt": data.get("attempt"),
                "detail": _detail(event.event_type, data),
            }
        )
    emit(rows, output, ("version", "recorded_at", "event", "step", "attempt", "detail"))
    if instance is not None:
        steps = ", ".join(f"{name}={step.status.value}" for name, step in instance.steps.items())
        click.echo(
            f"state: {instance.lifecycle} (definition v{instance.definition_version}; {steps})",
            err=output == "json",
        )
    # Typed events double as a check that the history still decodes with today's code.
    for event in recorded:
        event_from_recorded(event)


def _send(saga_id: str, message: Message, dry_run: bool) -> None:
    settings = Settings.from_env()
    app = App.from_settings(settings)
    store = app.event_store()
    try:
        instance = app.registry.replay(store.read_stream(saga_id))
    finally:
        store.close()
    if instance is None:
        raise fail(f"no saga {saga_id}", EXIT_PROBLEM)
    topic = app.registry.for_instance(instance).reply_topic
    if dry_run:
        click.echo(f"would send {message.avro_name} to {topic}: {message.model_dump_json()}")
        return
    require_kafka(settings.kafka_bootstrap)
    producer = Producer(producer_config(settings, client_id="sagactl-operator"))
    delivery = DeliveryTracker()
    try:
        producer.produce(
            topic,
            key=saga_id.encode(),
            value=app.codec.encode(topic, message),
            headers=[
                (h.MESSAGE_ID, str(uuid.uuid4())),  # each operator action is a new message
                (h.SAGA_ID, saga_id),
                (h.SAGA_TYPE, instance.saga_type),
            ],
            on_delivery=delivery,
        )
        delivery.raise_if_failed(producer, 30.0)
    except PublishError as exc:
        raise fail(f"Kafka did not take the command: {exc}", EXIT_UNREACHABLE) from None
    except KafkaException as exc:
        raise fail(f"Kafka unreachable: {exc}", EXIT_UNREACHABLE) from None
    click.echo(f"sent {message.avro_name} to {topic}")


_actor = click.option(
    "--actor", required=True, type=Text(), help="Who acts (recorded in the history)."
)
_reason = click.option(
    "--reason", required=True, type=Text(), help="Why (recorded in the history)."
)
_dry_run = click.option("--dry-run", is_flag=True, help="Show the command; send nothing.")


@saga.command()
@_saga_id_argument
@_actor
@_reason
@_dry_run
@requires(Needs.DATABASE)
def cancel(saga_id: str, actor: str, reason: str, dry_run: bool) -> None:
    """Stop the saga and compensate every step that completed or may have."""
    _send(saga_id, CancelSaga(saga_id=saga_id, actor=actor, reason=reason), dry_run)


@saga.command()
@_saga_id_argument
@click.option(
    "--step", "step_name", required=True, type=Text(), help="The failed step to run again."
)
@_actor
@_reason
@_dry_run
@requires(Needs.DATABASE)
def retry(saga_id: str, step_name: str, actor: str, reason: str, dry_run: bool) -> None:
    """Run a failed step (or compensation) again with a fresh retry budget."""
    _send(saga_id, RetryStep(saga_id=saga_id, step=step_name, actor=actor, reason=reason), dry_run)


@saga.command()
@_saga_id_argument
@click.option("--outcome", required=True, type=click.Choice(["completed", "compensated", "failed"]))
@_actor
@_reason
@_dry_run
@requires(Needs.DATABASE)
def resolve(saga_id: str, outcome: str, actor: str, reason: str, dry_run: bool) -> None:
    """Close a saga settled by hand, with the given outcome."""
    _send(
        saga_id,
        ResolveSaga(saga_id=saga_id, outcome=outcome, actor=actor, reason=reason),
        dry_run,
    )


def _detail(event_type: str, data: Mapping[str, Any]) -> str:
    if event_type == "OperatorAction":
        # A refused action must not read like an accepted one: say so, and why.
        verdict = "" if data.get("accepted") else f", refused ({data.get('detail')})"
        return f"{data.get('action')} by {data.get('actor')}{verdict}: {data.get('reason')}"
    return str(data.get("reason") or data.get("purpose") or _timer_detail(data))


def _timer_detail(data: Mapping[str, Any]) -> str:
    """Event format 2 folds timers into other events: say so in the timeline."""
    timer = data.get("timer")
    if isinstance(timer, dict):
        return f"timeout at {timer.get('fire_at')}"
    closed = data.get("cancels_timers")
    if isinstance(closed, list) and closed:
        return f"closes {len(closed)} timer{'s' if len(closed) > 1 else ''}"
    return ""
