"""A private world per test for the worker's integration tests, on the real broker and database.

Every test gets its own database (created by the superuser, owned by the owner role, migrated by
the real runner, dropped at the end), its own topics (the order saga with suffixed topic names,
see `isolated.py`) and its own consumer groups. The leader lease, the outbox checkpoint and the
projections live in the database, so workers of different tests never interfere, and nothing
here touches what the demo or other suites use on the shared servers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import producer_config
from orchestrator.observability import HealthState, Metrics
from orchestrator.participant import PostgresInbox, SagaStarter
from orchestrator.projections import PostgresProjector
from orchestrator.runtime import ConsumedRecord, Worker, build_codec
from orchestrator.saga import SagaRegistry
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder
from sagas.order_services import EFFECTS_DDL, SERVICES, Behaviour, order_service
from tests.conftest import PgUrls
from tests.integration.worker.isolated import make_variant
from tests.support import Background, eventually, scratch_database

REPO = Path(__file__).resolve().parents[3]
TERMINAL = frozenset({"completed", "compensated", "failed", "compensation_failed", "cancelled"})
WAIT_S = 60.0


@dataclass
class EventRow:
    stream_id: str
    version: int
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]


@dataclass
class RunningWorker:
    worker: Worker
    thread: Background[None]
    metrics_registry: CollectorRegistry
    health: HealthState
    closers: list[Callable[[], None]]

    def assigned(self) -> int:
        return self.health._assigned

    def paused(self) -> float:
        return self.metrics_registry.get_sample_value("saga_worker_paused") or 0.0

    def stop(self) -> None:
        """Stop the worker; what it crashed with, if it did, is raised here."""
        try:
            self.thread.stop()
        finally:
            for close in self.closers:
                close()


@dataclass
class World:
    suffix: str
    db_name: str
    app_url: str
    owner_url: str
    superuser_url: str  # on the maintenance database, for ALTER/DROP DATABASE
    bootstrap: str
    saga: type[OrderFulfilment]
    settings: Settings
    registry: SagaRegistry
    codec: Codec
    log_dir: Path
    timeout_s: float | None = None
    threads: list[Background[None]] = field(default_factory=list)
    workers: list[RunningWorker] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _producer: Producer | None = None

    # --- running things ----------------------------------------------------------------------

    def start_worker(self, name: str = "w1", *, tracer: Tracer | None = None) -> RunningWorker:
        metrics_registry = CollectorRegistry()
        health = HealthState()
        store = PostgresEventStore(self.app_url)
        projector = PostgresProjector(self.app_url, registry=self.registry)
        worker = Worker(
            self.settings,
            self.registry,
            store=store,
            checkpoints=PostgresCheckpointStore(self.app_url),
            codec=self.codec,
            metrics=Metrics(metrics_registry),
            health=health,
            projector_poll=projector.run_once,
            client_id=f"saga-worker-{name}",
            tracer=tracer,
        )
        thread = Background(worker.run, name=f"worker-{name}-{self.suffix}")
        running = RunningWorker(
            worker, thread, metrics_registry, health, [projector.close, store.close]
        )
        self.workers.append(running)
        thread.start()
        return running

    def start_participants(
        self, tracers: dict[str, Tracer] | None = None, **behaviours: Behaviour
    ) -> None:
        """The three simulated services (default: always succeed); a service given as
        keyword argument behaves so; `tracers` gives each service its own tracer."""
        for service in SERVICES:
            self.start_participant(
                service,
                behaviours.get(service, Behaviour()),
                tracer=(tracers or {}).get(service),
            )

    def start_participant(
        self,
        service: str,
        behaviour: Behaviour,
        *,
        instance: str = "",
        compensations_only: bool = False,
        tracer: Tracer | None = None,
    ) -> str:
        """One instance of a simulated service; its consumer group, which is returned.

        Every instance of a service shares that service's inbox (same database and consumer
        name); an `instance` name gives it a consumer group of its own, so that it reads the
        service's topics independently of the other instances."""
        inbox = PostgresInbox(self.owner_url, consumer=service)
        participant = order_service(
            service,
            settings=self.settings,
            codec=self.codec,
            inbox=inbox,
            behaviour=behaviour,
            saga=self.saga,
            compensations_only=compensations_only,
            tracer=tracer,
        )
        # A group of this test's own: joining the shared `participant-<service>` group
        # would rebalance (and wait for) every other run's participants.
        participant.group_id = f"participant-{service}{instance}-{self.suffix}"

        def run(stop: threading.Event) -> None:
            try:
                participant.run(stop)
            finally:
                inbox.close()

        thread = Background(run, name=participant.group_id)
        self.threads.append(thread)
        thread.start()
        return participant.group_id

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SAGA_DATABASE_URL": self.app_url,
            "SAGA_OWNER_DATABASE_URL": self.owner_url,
            "SAGA_KAFKA_BOOTSTRAP": self.bootstrap,
            "SAGA_CONSUMER_GROUP": self.settings.consumer_group,
            "SAGA_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            "SAGA_SAGAS": "tests.integration.worker.isolated:IsolatedOrder",
            "SAGA_TEST_SUFFIX": self.suffix,
            "SAGA_LOG_FORMAT": "json",
            "SAGA_METRICS_PORT": "0",
            **({"SAGA_TEST_TIMEOUT_S": str(self.timeout_s)} if self.timeout_s else {}),
        }

    def spawn_worker(self, label: str) -> subprocess.Popen[bytes]:
        """`sagactl worker` as a child process (output in the world's log folder)."""
        log = (self.log_dir / f"worker-{label}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "worker"],
            cwd=REPO,
            env=self.child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.children.append(child)
        return child

    def child_log(self, label: str) -> str:
        path = self.log_dir / f"worker-{label}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- input -------------------------------------------------------------------------------

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(self.settings, client_id="worker-tests"))
        return self._producer

    def order(self, index: int, prefix: str = "o") -> PlaceOrder:
        return PlaceOrder(
            order_id=f"{prefix}-{self.suffix}-{index:04d}",
            customer_id=f"customer-{index % 7}",
            sku=f"sku-{index % 5}",
            quantity=1 + index % 3,
            amount_cents=1000 + 37 * index,
            address=f"{index} Test Street",
        )

    def start_orders(self, count: int, prefix: str = "o") -> list[str]:
        starter = SagaStarter(self.producer, self.codec)
        ids = [starter.start(self.saga, self.order(i, prefix), wait=False) for i in range(count)]
        starter.flush()
        return ids

    # --- observation -------------------------------------------------------------------------

    def check_alive(self) -> None:
        """Fail at once if a thread of this world ended unasked, or a worker child crashed."""
        for thread in [*self.threads, *(w.thread for w in self.workers)]:
            if thread.died():
                raise AssertionError(f"{thread.name} died: {thread.error!r}") from thread.error

    def statuses(self, saga_ids: list[str]) -> dict[str, str]:
        with psycopg.connect(self.app_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT stream_id, status FROM saga_instances WHERE stream_id = ANY(%s)",
                (saga_ids,),
            ).fetchall()
        return {stream_id: status for stream_id, status in rows}

    def wait_for(
        self,
        saga_ids: list[str],
        done: Callable[[str], bool] = TERMINAL.__contains__,
        *,
        timeout: float = WAIT_S,
        what: str = "terminal",
    ) -> dict[str, str]:
        """Poll the saga_instances projection until every saga's status satisfies `done`."""

        def settled(statuses: dict[str, str]) -> bool:
            return len(statuses) == len(saga_ids) and all(map(done, statuses.values()))

        def summary(statuses: dict[str, str]) -> str:
            counts = Counter(statuses.values())
            counts["<not projected>"] = len(saga_ids) - len(statuses)
            return f"{sum(map(done, statuses.values()))} are {what}; statuses: {dict(counts)}"

        return eventually(
            lambda: self.statuses(saga_ids),
            f"all {len(saga_ids)} sagas {what}",
            until=settled,
            timeout=timeout,
            interval=0.2,
            check=self.check_running,
            describe=summary,
        )

    def check_running(self) -> None:
        """`check_alive`, and no worker child exited on its own with an error."""
        self.check_alive()
        for child in self.children:
            if child.poll() is not None and child.returncode not in (0, -signal.SIGKILL):
                raise AssertionError(f"worker child exited {child.returncode}")

    def lifecycle(self, saga_id: str) -> str | None:
        """The saga's status as the worker itself sees it: replayed from its events."""
        with PostgresEventStore(self.app_url) as store:
            instance = self.registry.replay(store.read_stream(saga_id))
        return None if instance is None else instance.lifecycle

    def events(self, saga_ids: list[str] | None = None) -> list[EventRow]:
        with psycopg.connect(self.app_url, autocommit=True) as conn:
            query = "SELECT stream_id, version, event_type, data, metadata FROM events"
            if saga_ids is None:
                rows = conn.execute(query + " ORDER BY stream_id, version").fetchall()
            else:
                rows = conn.execute(
                    query + " WHERE stream_id = ANY(%s) ORDER BY stream_id, version", (saga_ids,)
                ).fetchall()
        return [EventRow(*row) for row in rows]

    def streams(self, saga_ids: list[str] | None = None) -> dict[str, list[EventRow]]:
        by_stream: dict[str, list[EventRow]] = {}
        for row in self.events(saga_ids):
            by_stream.setdefault(row.stream_id, []).append(row)
        return by_stream

    def event_count(self) -> int:
        with psycopg.connect(self.app_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])

    def effects(self) -> list[tuple[str, str, str, str]]:
        """(service, message_id, order_id, action) of every applied command."""
        with psycopg.connect(self.owner_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT service, message_id, order_id, action FROM participant_effects"
            ).fetchall()
        return [tuple(row) for row in rows]

    def topics(self) -> list[str]:
        """Every topic of this world (consumed and command topics, without the `.dlt`s)."""
        return sorted(set(self.worker_routes_consumed()) | self.registry.command_topics)

    def worker_routes_consumed(self) -> list[str]:
        return sorted({self.saga.start_topic, self.saga.reply_topic})

    def message_counts(self, topics: list[str]) -> dict[str, int]:
        """How many records each topic holds (sum over partitions of high - low watermark)."""
        consumer = self.consumer()
        try:
            counts: dict[str, int] = {}
            for topic in topics:
                metadata = consumer.list_topics(topic, timeout=10).topics[topic]
                total = 0
                for partition in metadata.partitions:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=10
                    )
                    total += high - low
                counts[topic] = total
            return counts
        finally:
            consumer.close()

    def dead_letter_counts(self) -> dict[str, int]:
        return self.message_counts([f"{topic}.dlt" for topic in self.topics()])

    def consumer(self, group: str | None = None) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group or f"probe-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )

    def read_topic(self, topic: str, expected: int, timeout: float = 30.0) -> list[ConsumedRecord]:
        """Every record of `topic` from the start, waiting until at least `expected` came."""
        consumer = self.consumer()
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
        records: list[ConsumedRecord] = []

        def consume(wait_s: float) -> int:
            for message in consumer.consume(100, timeout=wait_s):
                if message.error() is None:
                    records.append(ConsumedRecord.from_message(message))
            return len(records)

        try:
            # consume() itself blocks for up to half a second: no pause between polls.
            eventually(
                lambda: consume(0.5),
                f"at least {expected} records on {topic}",
                until=lambda count: count >= expected,
                timeout=timeout,
                interval=0.0,
            )
            consume(1.0)  # anything beyond `expected` that is already there, too
        finally:
            consumer.close()
        return records

    def produce(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None,
        headers: Sequence[tuple[str, str | bytes]],
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Produce one record and wait for the broker: its (partition, offset)."""
        delivered: list[Any] = []
        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        self.producer.produce(
            topic,
            key=key,
            value=value,
            headers=[*headers],
            on_delivery=lambda err, msg: delivered.append(err or msg),
            **kwargs,
        )
        assert self.producer.flush(30) == 0, f"{topic}: not acknowledged"
        assert delivered, f"{topic}: no delivery report"
        message = delivered[0]
        assert not hasattr(message, "code"), f"{topic}: delivery failed: {message}"
        return message.partition(), message.offset()

    def committed_lag(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """High watermark minus the worker group's committed offset, per partition that has
        records (a partition without a commit counts from its low watermark)."""
        probe = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.settings.consumer_group,  # never subscribes: reads commits only
                "enable.auto.commit": False,
            }
        )
        try:
            lag: dict[tuple[str, int], int] = {}
            for topic in topics:
                metadata = probe.list_topics(topic, timeout=10).topics[topic]
                partitions = [TopicPartition(topic, p) for p in metadata.partitions]
                for tp in probe.committed(partitions, timeout=10):
                    low, high = probe.get_watermark_offsets(tp, timeout=10)
                    position = tp.offset if tp.offset >= 0 else low
                    if high > low:
                        lag[(topic, tp.partition)] = high - position
            return lag
        finally:
            probe.close()

    def wait_committed(self, topics: list[str], timeout: float = 30.0) -> None:
        """Until the worker group has committed everything on `topics`: a barrier proving
        that every record there was consumed and its batch settled."""
        eventually(
            lambda: {tp: n for tp, n in self.committed_lag(topics).items() if n},
            f"the worker group committed everything on {topics} (partitions still behind)",
            until=lambda behind: not behind,
            timeout=timeout,
            interval=0.3,
            check=self.check_alive,
        )

    def wait_events(
        self, saga_id: str, ready: Callable[[list[EventRow]], bool], what: str, timeout: float = 30
    ) -> list[EventRow]:
        """Poll one stream until `ready(rows)`."""
        return eventually(
            lambda: self.events([saga_id]),
            f"{saga_id}: {what}",
            until=ready,
            timeout=timeout,
            check=self.check_alive,
            describe=lambda rows: f"events {[r.event_type for r in rows]}",
        )

    # --- teardown ----------------------------------------------------------------------------

    def stop_threads(self) -> list[str]:
        problems: list[str] = []
        for thread in self.threads:
            thread.stop_event.set()
        for running in self.workers:
            running.thread.stop_event.set()
        for running in self.workers:
            try:
                running.stop()
            except Exception as exc:  # noqa: BLE001 - reported with the others below
                problems.append(f"{running.thread.name}: {exc!r}")
        for thread in self.threads:
            try:
                thread.stop()
            except Exception as exc:  # noqa: BLE001 - reported with the others below
                problems.append(f"{thread.name}: {exc!r}")
        self.threads.clear()
        self.workers.clear()
        return problems

    def stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        self.children.clear()


def _delete_topics(bootstrap: str, suffix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [
        name
        for name in admin.list_topics(timeout=10).topics
        if name.endswith(f".{suffix}") or name.endswith(f".{suffix}.dlt")
    ]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            # Best effort: a leftover topic harms nobody.
            with contextlib.suppress(Exception):
                future.result(30)


WorldFactory = Callable[..., World]


@pytest.fixture
def make_world(pg_urls: PgUrls, kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorldFactory]:
    """`make_world(**variant_options)` → a World; everything it started is stopped, its
    database dropped and its topics deleted when the test ends. Threads that crashed fail the
    test here, even if its assertions passed."""
    worlds: list[World] = []
    databases = contextlib.ExitStack()

    def make(**variant_options: Any) -> World:
        suffix = uuid.uuid4().hex[:10]
        db = databases.enter_context(scratch_database(pg_urls, prefix="worker_test"))
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute(EFFECTS_DDL)
        saga = make_variant(suffix, **variant_options)
        settings = Settings(
            database_url=db.app,
            owner_database_url=db.owner,
            kafka_bootstrap=kafka_bootstrap,
            consumer_group=f"test-{suffix}",
            topic_partitions=4,
            participant_database_url=db.owner,
            sagas="tests.integration.worker.isolated:IsolatedOrder",
        )
        log_dir = tmp_path / suffix
        log_dir.mkdir()
        world = World(
            suffix=suffix,
            db_name=db.name,
            app_url=db.app,
            owner_url=db.owner,
            superuser_url=pg_urls.superuser,
            bootstrap=kafka_bootstrap,
            saga=saga,
            settings=settings,
            registry=SagaRegistry([saga]),
            codec=build_codec(settings),  # the built-in registry: on the migrated database
            log_dir=log_dir,
        )
        if variant_options.get("timeout") is not None and "retry" not in variant_options:
            world.timeout_s = variant_options["timeout"].total_seconds()
        worlds.append(world)
        # Topics exist before anyone subscribes, so no consumer starts on a missing topic.
        Worker.ensure_topics_for(settings, world.registry)
        return world

    yield make

    problems: list[str] = []
    for world in worlds:
        world.stop_children()
        problems.extend(world.stop_threads())
        if world._producer is not None:
            world._producer.flush(10)
    databases.close()  # drops every world's database, now that nothing uses them
    for world in worlds:
        _delete_topics(kafka_bootstrap, world.suffix)
    assert not problems, "; ".join(problems)


@pytest.fixture
def world(make_world: WorldFactory) -> World:
    return make_world()


# --- checks shared by the tests --------------------------------------------------------------


def assert_single_decisions(streams: dict[str, list[EventRow]]) -> None:
    """Each stream's versions are 1..n, and each inbound message was decided once: the events
    of one decision share its causation id and are contiguous, so a message appended twice
    (a redelivery that was not recognised) shows up as its causation id reappearing later."""
    for stream_id, rows in streams.items():
        versions = [row.version for row in rows]
        assert versions == list(range(1, len(rows) + 1)), f"{stream_id}: versions {versions}"
        seen: set[str] = set()
        previous: str | None = None
        for row in rows:
            cause = str(row.metadata.get("causation_id"))
            if cause != previous:
                assert cause not in seen, (
                    f"{stream_id}: message {cause} was decided twice "
                    f"(again at version {row.version}: {row.event_type})"
                )
                seen.add(cause)
                previous = cause
        issued = [row.data["message_id"] for row in rows if row.event_type == "CommandIssued"]
        assert len(issued) == len(set(issued)), f"{stream_id}: a command was issued twice"


def commands(rows: list[EventRow], *, compensation: bool | None = None) -> list[EventRow]:
    return [
        row
        for row in rows
        if row.event_type == "CommandIssued"
        and (compensation is None or row.data["compensation"] is compensation)
    ]
