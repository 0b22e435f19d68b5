"""The outbox relay and the timer poller: the only two ways the orchestrator's decisions leave
the event store for Kafka.

Outbox: a catch-up subscription over the gap-safe global log publishes the command of every
CommandIssued event, flushes (idempotent producer, acks=all), and only then stores its
checkpoint. A command therefore reaches Kafka only after the event that issued it committed
(invariant 1), and a crash anywhere re-publishes from the checkpoint with the same message id
(invariant 4; participants dedupe on it).

Timers: due timers from the `timers` projection become TimerFired messages on the saga's reply
topic, keyed by saga id, so the worker that owns the saga's partition decides what they mean.
The TimerFired message id is derived from the timer id: a timer fired twice (a crash before the
worker recorded the firing) is deduplicated like any redelivery.

Both run on one elected worker at a time (`LeaderLease`): correct with several, but wasteful.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
import structlog
from confluent_kafka import KafkaError, Producer
from psycopg.conninfo import make_conninfo

from event_store import advisory_locks
from event_store._model import RecordedEvent
from event_store.subscription import CheckpointStore
from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.messages import message_class
from orchestrator.observability import Metrics
from orchestrator.saga import SagaRegistry, TimerFired, timer_message_id
from orchestrator.saga.events import command_dedupe_key

log = structlog.get_logger(__name__)


def relay_subscription(consumer_group: str) -> str:
    """The relay's checkpoint name. One relay per consumer group: deployments that share a
    database but run different sagas each publish their own sagas' commands."""
    return f"outbox-relay:{consumer_group}"


RELAY_LEADER_CLASS = advisory_locks.OUTBOX_RELAY_LEADER_CLASS


class PublishError(Exception):
    """Kafka did not acknowledge every message of a page; the checkpoint was not moved."""


class DeliveryTracker:
    def __init__(self) -> None:
        self.failures: list[KafkaError] = []

    def __call__(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self.failures.append(error)

    def raise_if_failed(self, producer: Producer, timeout_s: float) -> None:
        remaining = producer.flush(timeout_s)
        failures, self.failures = self.failures, []
        if remaining or failures:
            raise PublishError(
                f"{remaining} messages unacknowledged, {len(failures)} rejected"
                + (f" (first: {failures[0]})" if failures else "")
            )


def command_headers(event: RecordedEvent) -> list[tuple[str, str | bytes | None]]:
    data, metadata = event.data, event.metadata
    compensation = bool(data["compensation"])
    headers: list[tuple[str, str | bytes | None]] = [
        (h.MESSAGE_ID, str(data["message_id"])),
        (h.SAGA_ID, event.stream_id),
        (h.SAGA_TYPE, event.stream_type),
        (h.STEP, str(data["step"])),
        (h.ATTEMPT, str(data["attempt"])),
        (h.REPLY_TOPIC, str(data["reply_topic"])),
        (h.CORRELATION_ID, str(metadata.get("correlation_id") or event.stream_id)),
        (h.CAUSATION_ID, str(metadata.get("causation_id") or "")),
        # What the participant dedupes on, as the event says it (one key per intent in format
        # 3; the per-attempt message id for format-1/2 sagas, as the previous release sent).
        (h.STEP_KEY, command_dedupe_key(data.get("step_key"), str(data["message_id"]))),
        (h.COMMAND_KIND, h.COMMAND_KIND_COMPENSATE if compensation else h.COMMAND_KIND_EXECUTE),
    ]
    if metadata.get("traceparent"):
        headers.append((h.TRACEPARENT, str(metadata["traceparent"])))
    return headers


class CommandLog(Protocol):
    def read_type(
        self, after_position: int, event_types: Sequence[str], limit: int = 1000
    ) -> tuple[list[RecordedEvent], int]: ...


class OutboxRelay:
    """Tails the log's CommandIssued events from a stored checkpoint and publishes them.

    Reads only CommandIssued rows (a fifth of the log) from the store, gap-safe; the
    checkpoint moves only after Kafka acknowledged every command of the page."""

    def __init__(
        self,
        store: CommandLog,
        checkpoints: CheckpointStore,
        producer: Producer,
        codec: Codec,
        *,
        name: str,
        saga_types: set[str],
        page_size: int = 2000,
        flush_timeout_s: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._checkpoints = checkpoints
        self._name = name
        self._saga_types = frozenset(saga_types)
        self._metrics = metrics
        self._producer = producer
        self._codec = codec
        self._page_size = page_size
        self._flush_timeout_s = flush_timeout_s
        self._delivery = DeliveryTracker()
        self._position: int | None = None
        self.published = 0

    @property
    def position(self) -> int:
        if self._position is None:
            self._position = self._checkpoints.load(self._name)
        return self._position

    def poll(self) -> int:
        """Publish the next page of commands; returns how many were published."""
        after = self.position
        events, resume = self._store.read_type(after, ["CommandIssued"], self._page_size)
        published = self._publish(events)
        if resume != after:
            self._checkpoints.save(self._name, resume)
            self._position = resume
        return published

    def _publish(self, events: Sequence[RecordedEvent]) -> int:
        count = 0
        per_topic: dict[str, int] = {}
        for event in events:
            if event.stream_type not in self._saga_types:
                continue  # another deployment's saga: its own relay publishes it
            data = event.data
            topic = str(data["topic"])
            command = message_class(str(data["message_type"])).model_validate(data["payload"])
            self._producer.produce(
                topic,
                key=str(data["key"]).encode(),
                value=self._codec.encode(topic, command),
                headers=command_headers(event),
                on_delivery=self._delivery,
            )
            count += 1
            per_topic[topic] = per_topic.get(topic, 0) + 1
        if count:
            self._delivery.raise_if_failed(self._producer, self._flush_timeout_s)
            self.published += count
            if self._metrics is not None:
                for topic, n in per_topic.items():
                    self._metrics.commands_published.labels(topic=topic).inc(n)
        return count


@dataclass(frozen=True, slots=True)
class DueTimer:
    stream_id: str
    saga_type: str
    timer_id: str
    fire_at: datetime


DUE_TIMERS_SQL = """
SELECT t.stream_id, i.saga_type, t.timer_id, t.fire_at
FROM timers t JOIN saga_instances i ON i.stream_id = t.stream_id
WHERE t.status = 'scheduled' AND t.fire_at <= %s AND i.saga_type = ANY(%s)
ORDER BY t.fire_at
LIMIT %s
"""


class TimerPoller:
    """Turns due timers into TimerFired messages. A timer stays 'scheduled' in the projection
    until the worker records TimerFired, so it is re-sent at most every `resend_after_s`."""

    def __init__(
        self,
        conninfo: str,
        producer: Producer,
        codec: Codec,
        registry: SagaRegistry,
        *,
        batch_size: int = 1000,
        resend_after_s: float = 30.0,
    ) -> None:
        self._conninfo = conninfo
        self._producer = producer
        self._codec = codec
        self._registry = registry
        self._batch_size = batch_size
        self._resend_after_s = resend_after_s
        self._sent: dict[str, float] = {}  # timer id -> monotonic time sent
        self._delivery = DeliveryTracker()
        self._conn: psycopg.Connection[Any] | None = None
        self.fired = 0

    def due(self, now: datetime) -> list[DueTimer]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            types = sorted(d.name for d in self._registry.definitions)
            rows = self._conn.execute(DUE_TIMERS_SQL, (now, types, self._batch_size)).fetchall()
        except psycopg.OperationalError:
            self._conn.close()
            raise
        return [DueTimer(*row) for row in rows]

    def poll(self, now: datetime) -> int:
        started = time.monotonic()
        self._sent = {k: t for k, t in self._sent.items() if started - t < self._resend_after_s}
        fired = 0
        for timer in self.due(now):
            if timer.timer_id in self._sent:
                continue
            topic = self._registry.get(timer.saga_type).reply_topic
            message = TimerFired(
                saga_id=timer.stream_id,
                timer_id=timer.timer_id,
                fire_at=timer.fire_at.isoformat(timespec="milliseconds"),
            )
            self._producer.produce(
                topic,
                key=timer.stream_id.encode(),
                value=self._codec.encode(topic, message),
                headers=[
                    (h.MESSAGE_ID, timer_message_id(timer.timer_id)),
                    (h.SAGA_ID, timer.stream_id),
                    (h.SAGA_TYPE, timer.saga_type),
                ],
                on_delivery=self._delivery,
            )
            self._sent[timer.timer_id] = started
            fired += 1
        if fired:
            self._delivery.raise_if_failed(self._producer, 30.0)
            self.fired += fired
        return fired

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# The relay reads the log in (tx_id, position) order, so "not passed yet" is counted the same
# way (a plain position comparison would miscount events of late-committing transactions).
# Two statements, each an index range scan: the first version joined the checkpoint into the
# count with an OR, and PostgreSQL answered it by scanning the whole log every second.
BACKLOG_PASSED_SQL = """
SELECT done.tx_id::text, done.position FROM subscription_checkpoints c
JOIN events done ON done.position = c.position
WHERE c.name = %s
"""
BACKLOG_AFTER_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM events WHERE (tx_id, position) > (%s::xid8, %s) LIMIT %s
) AS backlog
"""
BACKLOG_ALL_SQL = "SELECT count(*) FROM (SELECT 1 FROM events LIMIT %s) AS backlog"
# The gauge stops counting here: past it, the relay is plainly stalled, and counting a backlog
# of millions every second would load the database it is waiting on.
BACKLOG_CAP = 1_000_000


class BacklogProbe:
    """How many committed events the outbox relay has not passed yet (the gauge an SRE watches
    when commands seem slow: it grows while the relay is stalled or down), up to BACKLOG_CAP."""

    def __init__(self, conninfo: str, subscription: str) -> None:
        self._conninfo = conninfo
        self._subscription = subscription
        self._conn: psycopg.Connection[Any] | None = None

    def backlog(self) -> int:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            passed = self._conn.execute(BACKLOG_PASSED_SQL, (self._subscription,)).fetchone()
            if passed is None:
                row = self._conn.execute(BACKLOG_ALL_SQL, (BACKLOG_CAP,)).fetchone()
            else:
                tx_id, position = passed
                row = self._conn.execute(
                    BACKLOG_AFTER_SQL, (tx_id, position, BACKLOG_CAP)
                ).fetchone()
        except psycopg.OperationalError:
            self._conn.close()
            raise
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# A leader whose machine vanished keeps its session, and so its lock, until the server notices
# the dead connection: keepalives bound that to about half a minute instead of TCP's ~2 hours.
_KEEPALIVES: dict[str, str | int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
}


class LeaderLease:
    """Session advisory lock on a dedicated connection: held while the connection lives, so a
    crashed leader's lease ends with its connection and another worker takes over. One lease
    per consumer group (two-key lock: class, hash of the group).

    A held lease is confirmed (its connection pinged) at most every `confirm_every_s`, not on
    every relay poll: a busy relay polls hundreds of times a second. A leader that lost its
    connection may so publish for up to that long beside the new one; the duplicates carry
    the commands' own message ids, which participants deduplicate on.
    """

    def __init__(self, conninfo: str, consumer_group: str, *, confirm_every_s: float = 1.0) -> None:
        self._conninfo = conninfo
        self._group = consumer_group
        self._confirm_every_s = confirm_every_s
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._confirmed_at = 0.0

    def holds(self) -> bool:
        """True while this process is the leader; tries to become it when it is not."""
        try:
            now = time.monotonic()
            if self._held and now - self._confirmed_at < self._confirm_every_s:
                return True
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    make_conninfo(
                        self._conninfo,
                        connect_timeout=10,
                        application_name="saga-relay-lease",
                        **_KEEPALIVES,
                    ),
                    autocommit=True,
                )
                self._held = False
            if self._held:
                self._conn.execute("SELECT 1")  # still alive: the lock lives with the session
                self._confirmed_at = now
                return True
            row = self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                (RELAY_LEADER_CLASS, self._group),
            ).fetchone()
            self._held = bool(row and row[0])
            self._confirmed_at = now
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
            self._held = False
        return self._held

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()  # closing the session releases the lock
        self._held = False
