"""`sagactl worker`: the consumer loop that drives sagas.

One iteration: consume a batch → route it (`Router`; poison to `<topic>.dlt` and its saga
parked, `DeadLetterPolicy`) → decide and append the whole batch in ONE transaction
(`SagaProcessor`) → store the offsets. The commands those events issued are published by the
outbox relay, which runs on the elected leader with the projector and the timer poller
(`LeaderDuties`).

Failure handling, in order of preference:
- transient errors (PostgreSQL, Kafka, the registry) are retried with the batch held in memory
  while the assigned partitions are paused (`OutagePause`);
- a message that cannot be decoded or routed is dead-lettered before its offset is stored;
- a message of a saga whose definition version this worker does not register (a rolling
  deploy) is left for a worker that has it (`HeldPartitions`);
- a batch that fails for any other reason is split into single messages, so only the message
  that fails is dead-lettered and the rest go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import confluent_kafka
import structlog
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import Tracer

from event_store import CheckpointStore, EventStore
from event_store.postgres import PostgresEventStore
from orchestrator.archive import PeriodicAnchor
from orchestrator.codec import Codec
from orchestrator.config import ConfigError, Settings
from orchestrator.kafka import (
    AdminClient,
    ConsumedRecord,
    Consumer,
    DeadLetterPublisher,
    Producer,
    TopicSpec,
    admin_config,
    consume_batch,
    consumer_config,
    ensure_topics,
    producer_config,
    records_of,
    store_offsets,
    with_dead_letters,
)
from orchestrator.observability import HealthState, Metrics
from orchestrator.projections import PostgresReadModels, ReadModelWriter
from orchestrator.runtime._batch_trace import BatchTrace
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._dead_lettering import DeadLetterPolicy
from orchestrator.runtime._held_partitions import HeldPartitions
from orchestrator.runtime._leader import LeaderDuties, LeaderPorts
from orchestrator.runtime._outage_pause import OutagePause
from orchestrator.runtime._processor import SagaProcessor
from orchestrator.runtime._routing import Router, Routes
from orchestrator.runtime._worker_metrics import WorkerMetrics
from orchestrator.saga import RegistryError, SagaInstance, SagaRegistry

log = structlog.get_logger(__name__)

Partition = tuple[str, int]
LAG_REPORT_EVERY_S = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def _postgres_read_models(store: EventStore) -> ReadModelWriter:
    # The read models are written in the batch's own transaction, so they live in the store's
    # database: any other store must bring its own writer (the in-memory world does).
    if not isinstance(store, PostgresEventStore):
        raise TypeError("a Worker on a store other than PostgreSQL needs read_models=")
    return PostgresReadModels(store)


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: SagaRegistry,
        *,
        store: EventStore,
        checkpoints: CheckpointStore,
        codec: Codec,
        metrics: Metrics,
        health: HealthState,
        projector_poll: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = utc_now,
        client_id: str = "saga-worker",
        leader: LeaderPorts | None = None,
        read_models: ReadModelWriter | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._settings = settings
        try:
            # New starts on the pinned versions (SAGA_START_VERSIONS); instances on their own.
            registry = registry.with_start_versions(settings.start_versions)
        except RegistryError as exc:
            raise ConfigError(f"SAGA_START_VERSIONS: {exc}") from None
        self._registry = registry
        self._health = health
        self._client_id = client_id
        self.routes = Routes.of(registry)
        self._router = Router(self.routes, registry, codec)
        self._metrics = WorkerMetrics(metrics, clock)
        self._cache: StateCache[SagaInstance] = StateCache(settings.cache_max_instances)
        self._processor = SagaProcessor(
            registry,
            store,
            self._cache,
            clock,
            event_format=settings.event_format,
            read_models=read_models or _postgres_read_models(store),
        )
        self._assigned: set[Partition] = set()
        self._held = HeldPartitions(self._assigned, metrics)
        # None: the global tracer if tracing is configured, else no spans at all.
        self._trace = BatchTrace(tracer, settings.consumer_group)
        self._leader = LeaderDuties(
            settings,
            registry,
            leader
            or LeaderPorts.postgres(
                settings, store, checkpoints, metrics=metrics, registry=registry
            ),
            codec=codec,
            metrics=metrics,
            projector_poll=projector_poll,
            # Built here so that an unreadable signing key stops start-up (exit 2).
            anchors=PeriodicAnchor.from_settings(settings),
            clock=clock,
            client_id=client_id,
            tracer=tracer,
        )
        self.batches = 0

    # --- set-up ------------------------------------------------------------------------------

    def ensure_topics(self) -> None:
        self.ensure_topics_for(self._settings, self._registry)

    @staticmethod
    def ensure_topics_for(settings: Settings, registry: SagaRegistry) -> None:
        """Create the consumed and command topics (and their `.dlt` twins) that are missing."""
        routes = Routes.of(registry)
        specs = [
            TopicSpec(topic, settings.topic_partitions, settings.topic_replication_factor)
            for topic in sorted(set(routes.consumed) | routes.command_topics)
        ]
        admin = AdminClient(admin_config(settings))
        ensure_topics(admin, with_dead_letters(specs))

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        settings = self._settings
        self.ensure_topics()
        consumer = Consumer(
            consumer_config(
                settings, group_id=settings.consumer_group, client_id=f"{self._client_id}-consumer"
            )
        )
        producer = Producer(producer_config(settings, client_id=f"{self._client_id}-dlt"))
        dead_letters = DeadLetterPolicy(
            self.routes,
            self._processor,
            DeadLetterPublisher(producer, settings.consumer_group),
            self._metrics,
            self._trace,
        )
        consumer.subscribe(
            self.routes.consumed,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._metrics.register(self.routes.consumed, {d.name for d in self._registry.definitions})
        self._health.set_kafka(True)
        self._health.set_postgres(True)
        housekeeper = self._leader.start(stop)
        log.info("worker running", topics=self.routes.consumed, group=settings.consumer_group)
        wait_s = settings.batch_max_wait_ms / 1000
        next_lag = 0.0
        try:
            while not stop.is_set():
                self._health.beat()
                if time.monotonic() >= next_lag:
                    self._metrics.lag(consumer, self._assigned)
                    next_lag = time.monotonic() + LAG_REPORT_EVERY_S
                if self._held:
                    self._held.retry_due(consumer)
                records = self._records(
                    consume_batch(consumer, settings.batch_max_messages, wait_s)
                )
                if records:
                    self._handle(records, consumer, dead_letters, stop)
        finally:
            # SIGTERM lands here between batches: the last batch is committed, its offsets
            # stored; close() commits them and leaves the group cleanly.
            housekeeper.join(timeout=10)
            producer.flush(30)
            consumer.close()
            log.info("worker stopped", batches=self.batches)
        if self._leader.fatal is not None:
            raise RuntimeError("a background thread of the worker failed") from self._leader.fatal

    def _records(self, messages: list[Message]) -> list[ConsumedRecord]:
        records, errors = records_of(messages)
        for error in errors:
            if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                self._health.set_kafka(False)
            log.warning("consumer error", error=str(error))
        return records

    def _handle(
        self,
        records: list[ConsumedRecord],
        consumer: Consumer,
        dead_letters: DeadLetterPolicy,
        stop: threading.Event,
    ) -> None:
        """Route, dead-letter, decide and append one batch, then store its offsets.

        Each phase is retried through dependency outages with consumption paused, and each
        runs once per batch: a retry of the append never re-sends dead letters."""
        if self._held:
            records = self._held.drop_held(consumer, records)
            if not records:
                return
        pause = OutagePause(consumer, stop, self._metrics.metrics, self._health, self._resumable)
        try:
            with self._trace.batch(records) as spans:
                routed = pause.until_done(lambda: self._router.route_all(records))
                parking = pause.until_done(lambda: dead_letters.dead_letter_all(routed.poison))
                started = time.perf_counter()
                inbound = self._trace.traced(spans, [*routed.inbound, *parking])
                with self._trace.deciding(spans):
                    outcome = pause.until_done(
                        # Messages of partitions revoked meanwhile belong to another worker now.
                        lambda: dead_letters.process(
                            [i for i in inbound if i.partition in self._assigned]
                        )
                    )
                self._trace.settled(spans, outcome)
            self._metrics.batch(records, outcome, time.perf_counter() - started)
            self.batches += 1
            self._health.set_postgres(True)
            self._health.set_kafka(True)
            if outcome.held or self._held:
                self._held.update(consumer, records, outcome)
            live = [r for r in records if (r.topic, r.partition) in self._assigned]
            if self._held:
                # Never past a held message: its next owner must start there. Records behind
                # it in this batch come again (decided ones are then duplicates; a dead-letter
                # of one of them is sent twice, with the same coordinates).
                live = [r for r in live if not self._held.is_held(r)]
            if live:
                store_offsets(consumer, live)
        finally:
            pause.end()

    def _resumable(self, partition: Partition) -> bool:
        return partition in self._assigned and not self._held.is_paused(partition)

    # --- offsets, rebalances ------------------------------------------------------------------

    def _on_assign(
        self, consumer: confluent_kafka.Consumer, partitions: list[TopicPartition]
    ) -> None:
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        self._health.set_assigned_partitions(len(self._assigned))
        log.info("partitions assigned", count=len(partitions), total=len(self._assigned))

    def _on_revoke(
        self, consumer: confluent_kafka.Consumer, partitions: list[TopicPartition]
    ) -> None:
        # Commit what is stored now: the next owner starts exactly after our last durable batch.
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit on revoke failed", error=str(exc))
        self._forget(partitions)

    def _on_lost(
        self, consumer: confluent_kafka.Consumer, partitions: list[TopicPartition]
    ) -> None:
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned -= lost
        for partition in lost:
            # Another worker may change these sagas next: a cached state would be stale.
            self._cache.drop_partition(partition)
        self._held.forget(lost)
        self._metrics.metrics.forget_partitions(lost)
        self._health.set_assigned_partitions(len(self._assigned))
        log.info("partitions revoked", count=len(partitions), total=len(self._assigned))
