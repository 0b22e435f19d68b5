"""`sagactl worker`: the consumer loop that drives sagas.

One iteration: consume a batch → decode (poison to `<topic>.dlt`, its saga parked) → decide and
append the whole batch in ONE transaction (`SagaProcessor`) → store the offsets. The commands
those events issued are published by the outbox relay, which runs in a housekeeping thread on
the elected leader together with the projector and the timer poller.

Failure handling, in order of preference:
- transient errors (PostgreSQL, Kafka, the registry) are retried with the batch held in memory;
  while they last the assigned partitions are paused, so the worker stays in its group, nothing
  is consumed, and nothing healthy is dead-lettered;
- a message that cannot be decoded or routed is dead-lettered before its offset is stored;
- a message of a saga whose definition version this worker does not register (a rolling
  deploy) is left for a worker that has it: its partition is put back at that message and
  paused, by the same pause used for outages, and looked at again after a capped backoff while
  the other partitions go on;
- a batch that fails for any other reason is split into single messages, so only the message
  that fails is dead-lettered and the rest go on (no poison blocks a partition).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TypeVar

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from event_store._model import EventStoreError, InvalidEventError
from event_store.postgres import PostgresEventStore
from event_store.subscription import CheckpointStore
from orchestrator import headers as h
from orchestrator.archive import PeriodicAnchor
from orchestrator.codec import Codec, DecodeError, RegistryUnavailableError
from orchestrator.config import ConfigError, Settings
from orchestrator.messages import Message
from orchestrator.observability import HealthState, Metrics
from orchestrator.projections import PostgresReadModels
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._dead_letters import DeadLetterError, DeadLetterPublisher
from orchestrator.runtime._holds import VersionHolds
from orchestrator.runtime._kafka_config import admin_config, consumer_config, producer_config
from orchestrator.runtime._processor import (
    BatchOutcome,
    ConflictStormError,
    Inbound,
    SagaProcessor,
)
from orchestrator.runtime._record import ConsumedRecord, consume_batch, store_offsets
from orchestrator.runtime._relay import (
    BacklogProbe,
    LeaderLease,
    OutboxRelay,
    PublishError,
    TimerPoller,
    relay_subscription,
)
from orchestrator.runtime._retry import is_transient
from orchestrator.runtime._topics import TopicSpec, ensure_topics, with_dead_letters
from orchestrator.saga import (
    Envelope,
    MessageDeadLettered,
    RegistryError,
    SagaInstance,
    SagaRegistry,
)
from orchestrator.saga._control import CONTROL_MESSAGES

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Part of the on-disk format: the message id under which a dead-lettered record parks its saga.
_DEAD_LETTER_NAMESPACE: Final = uuid.UUID("3c9f6a1e-7b2d-4e58-a0c4-8d1e5f2b6a97")
MAX_OUTAGE_BACKOFF_S = 5.0


class RoutingError(Exception):
    """A message the worker cannot attribute to a saga (no saga id, or a saga that does not
    exist); dead-lettered like undecodable input."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


class HandlingError(Exception):
    """Deciding a message raised; wraps the cause for the dead-letter headers."""


@dataclass(slots=True)
class Routed:
    inbound: list[Inbound] = field(default_factory=list)
    poison: list[tuple[ConsumedRecord, BaseException, str]] = field(default_factory=list)


def dead_letter_message_id(record: ConsumedRecord) -> str:
    return str(uuid.uuid5(_DEAD_LETTER_NAMESPACE, record.coordinates))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Routes:
    """Which message types each consumed topic accepts, and which topics exist."""

    accepted: dict[str, tuple[type[Message], ...]]
    start_topics: frozenset[str]
    command_topics: frozenset[str]

    @classmethod
    def of(cls, registry: SagaRegistry) -> Routes:
        accepted: dict[str, set[type[Message]]] = {}
        for definition in registry.definitions:
            accepted.setdefault(definition.start_topic, set()).add(definition.start_type)
            replies = accepted.setdefault(definition.reply_topic, set(CONTROL_MESSAGES))
            for step in definition.steps.values():
                replies.update(step.success + step.failure)
                if step.compensation is not None:
                    replies.update(step.compensation.success + step.compensation.failure)
        return cls(
            accepted={topic: tuple(types) for topic, types in accepted.items()},
            start_topics=registry.start_topics,
            command_topics=registry.command_topics,
        )

    @property
    def consumed(self) -> list[str]:
        return sorted(self.accepted)

    @staticmethod
    def bindings(registry: SagaRegistry) -> list[tuple[str, str]]:
        """Every (topic, Avro record) pair the registered sagas put on Kafka or read from it:
        what the schema registry's subjects are named after (TopicRecordNameStrategy)."""
        pairs = {
            (topic, cls.avro_name)
            for topic, types in Routes.of(registry).accepted.items()
            for cls in types
        }
        for definition in registry.definitions:
            for step in definition.steps.values():
                pairs.add((step.topic, step.command.avro_name))
                if step.compensation is not None:
                    pairs.add((step.compensation.topic, step.compensation.command.avro_name))
        return sorted(pairs)


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: SagaRegistry,
        *,
        store: PostgresEventStore,
        checkpoints: CheckpointStore,
        codec: Codec,
        metrics: Metrics,
        health: HealthState,
        projector_poll: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = utc_now,
        client_id: str = "saga-worker",
    ) -> None:
        self._settings = settings
        try:
            # New starts on the pinned versions (SAGA_START_VERSIONS); instances on their own.
            registry = registry.with_start_versions(settings.start_versions)
        except RegistryError as exc:
            raise ConfigError(f"SAGA_START_VERSIONS: {exc}") from None
        self._registry = registry
        self._store = store
        self._checkpoints = checkpoints
        self._codec = codec
        self._metrics = metrics
        self._health = health
        self._projector_poll = projector_poll
        self._clock = clock
        self._client_id = client_id
        # A leader duty; built here so that an unreadable signing key stops start-up (exit 2).
        self._anchors = PeriodicAnchor.from_settings(settings)
        self.routes = Routes.of(registry)
        self._cache: StateCache[SagaInstance] = StateCache(settings.cache_max_instances)
        self._processor = SagaProcessor(
            registry,
            store,
            self._cache,
            clock,
            event_format=settings.event_format,
            read_models=PostgresReadModels(store),
        )
        self._assigned: set[tuple[str, int]] = set()
        self._holds = VersionHolds()
        self._consumer: Consumer | None = None
        self._fatal: BaseException | None = None
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
        self._consumer = consumer
        producer = Producer(producer_config(settings, client_id=f"{self._client_id}-dlt"))
        dead_letters = DeadLetterPublisher(producer, settings.consumer_group)
        housekeeper = threading.Thread(
            target=self._guarded,
            args=(self._housekeeping, stop),
            name="saga-housekeeping",
            daemon=True,
        )
        consumer.subscribe(
            self.routes.consumed,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._metrics.register_topics(self.routes.consumed)
        self._metrics.register_saga_types({d.name for d in self._registry.definitions})
        self._health.set_kafka(True)
        self._health.set_postgres(True)
        housekeeper.start()
        log.info("worker running", topics=self.routes.consumed, group=settings.consumer_group)
        wait_s = settings.batch_max_wait_ms / 1000
        next_lag = 0.0
        try:
            while not stop.is_set():
                self._health.beat()
                if time.monotonic() >= next_lag:
                    self._report_lag(consumer)
                    next_lag = time.monotonic() + 5.0
                if self._holds:
                    self._retry_held(consumer)
                messages = consume_batch(consumer, settings.batch_max_messages, wait_s)
                records = self._records(messages)
                if records:
                    self._handle(records, consumer, dead_letters, stop)
        finally:
            # SIGTERM lands here between batches: the last batch is committed, its offsets
            # stored; close() commits them and leaves the group cleanly.
            housekeeper.join(timeout=10)
            producer.flush(30)
            consumer.close()
            self._consumer = None
            log.info("worker stopped", batches=self.batches)
        if self._fatal is not None:
            raise RuntimeError("a background thread of the worker failed") from self._fatal

    def _records(self, messages: Sequence[object]) -> list[ConsumedRecord]:
        records: list[ConsumedRecord] = []
        for message in messages:
            error = message.error()  # type: ignore[attr-defined]
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)  # the client cannot recover: exit, restart
                if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                    self._health.set_kafka(False)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error", error=str(error))
                continue
            records.append(ConsumedRecord.from_message(message))  # type: ignore[arg-type]
        return records

    def _handle(
        self,
        records: list[ConsumedRecord],
        consumer: Consumer,
        dead_letters: DeadLetterPublisher,
        stop: threading.Event,
    ) -> None:
        """Route, dead-letter, decide and append one batch, then store its offsets.

        Each phase is retried through dependency outages with consumption paused, and each
        runs once per batch: a retry of the append never re-sends dead letters."""
        paused: list[TopicPartition] = []
        if self._holds:
            records = self._drop_held(consumer, records)
            if not records:
                return
        try:
            routed = self._until_done(lambda: self.route_all(records), consumer, stop, paused)
            parking = self._until_done(
                lambda: self.dead_letter_all(routed.poison, dead_letters), consumer, stop, paused
            )
            started = time.perf_counter()
            inbound = [*routed.inbound, *parking]
            outcome = self._until_done(
                # Messages of partitions revoked meanwhile belong to another worker now.
                lambda: self.process_inbound(
                    [i for i in inbound if i.partition in self._assigned], dead_letters
                ),
                consumer,
                stop,
                paused,
            )
            self._observe(records, outcome, time.perf_counter() - started)
            self.batches += 1
            self._health.set_postgres(True)
            self._health.set_kafka(True)
            if outcome.held or self._holds:
                self._update_holds(consumer, records, outcome)
            live = [r for r in records if (r.topic, r.partition) in self._assigned]
            if self._holds:
                # Never past a held message: its next owner must start there. Records behind
                # it in this batch come again (decided ones are then duplicates; a dead-letter
                # of one of them is sent twice, with the same coordinates).
                live = [r for r in live if not self._is_held(r)]
            if live:
                store_offsets(consumer, live)
        finally:
            if paused:
                self._resume(consumer, paused)
                self._metrics.worker_paused.set(0)
                log.info("dependency back; consumption resumed")

    def _until_done(
        self,
        work: Callable[[], T],
        consumer: Consumer,
        stop: threading.Event,
        paused: list[TopicPartition],
    ) -> T:
        """`work()`, retried while a dependency is down; the first outage pauses consumption
        (the worker stays in its group, consumes nothing, dead-letters nothing healthy)."""
        delay = 0.05
        while True:
            try:
                return work()
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                dependency = _dependency_of(exc)
                self._metrics.transient_errors.labels(dependency=dependency).inc()
                if dependency == "postgres":
                    self._health.set_postgres(False)
                elif dependency == "kafka":
                    self._health.set_kafka(False)
                if not paused:
                    paused.extend(consumer.assignment())
                    consumer.pause(paused)
                    self._metrics.worker_paused.set(1)
                    log.warning("dependency down; consumption paused", error=repr(exc))
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if stop.is_set():
                        raise
                    self._health.beat()
                    self._hold(consumer, paused, min(0.1, delay))
                delay = min(delay * 2, MAX_OUTAGE_BACKOFF_S)

    def _hold(self, consumer: Consumer, paused: list[TopicPartition], timeout: float) -> None:
        """Poll while paused (keeps the group membership, serves rebalances). A partition
        assigned during the outage is not paused yet: whatever it returns is put back (seek)
        and the partition paused too, so nothing is consumed past and lost."""
        message = consumer.poll(timeout)
        if message is None or message.error() is not None:
            return
        record = ConsumedRecord.from_message(message)
        paused.append(_put_back(consumer, record.topic, record.partition, record.offset))

    def _resume(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume what an outage paused, except partitions revoked meanwhile and partitions
        held for a missing saga version (they wait for their own retry)."""
        consumer.resume(
            [
                tp
                for tp in partitions
                if (tp.topic, tp.partition) in self._assigned
                and not self._holds.is_paused((tp.topic, tp.partition))
            ]
        )

    # --- partitions held for a saga version this worker does not register --------------------

    def _update_holds(
        self,
        consumer: Consumer,
        records: Sequence[ConsumedRecord],
        outcome: BatchOutcome,
    ) -> None:
        """Put back and pause the partitions this batch held; end the retried holds whose
        message went through."""
        for partition, held in outcome.held.items():
            if partition not in self._assigned:
                continue  # revoked meanwhile: its next owner starts from the committed offset
            hold = self._holds.hold(partition, held)
            _put_back(consumer, partition[0], partition[1], held.offset)
            self._metrics.missing_version.labels(
                saga_type=held.saga_type, version=str(held.version)
            ).inc()
            log.warning(
                "saga version missing; partition held for a worker that has it",
                saga_type=held.saga_type,
                missing_version=held.version,
                topic=partition[0],
                partition=partition[1],
                offset=held.offset,
                retry_in_s=hold.delay_s,
            )
        delivered = {(r.topic, r.partition) for r in records} - outcome.held.keys()
        for hold in self._holds.passed(delivered):
            log.info(
                "held partition processed again",
                topic=hold.partition[0],
                partition=hold.partition[1],
                offset=hold.held.offset,
            )
        self._metrics.held_partitions.set(len(self._holds))

    def _retry_held(self, consumer: Consumer) -> None:
        """Resume the held partitions whose backoff is over: the next batch fetches their held
        message again (holding it once more, with a longer wait, if the version is still
        missing)."""
        due = [
            TopicPartition(*hold.partition)
            for hold in self._holds.due()
            if hold.partition in self._assigned
        ]
        if due:
            consumer.resume(due)

    def _drop_held(self, consumer: Consumer, records: list[ConsumedRecord]) -> list[ConsumedRecord]:
        """Records of a paused held partition (fetched before the pause took effect) are not
        this batch's: put the partition back again and leave them out."""
        kept: list[ConsumedRecord] = []
        for record in records:
            partition = (record.topic, record.partition)
            if self._holds.is_paused(partition):
                offset = self._holds.offset(partition)
                assert offset is not None
                if record.offset >= offset:
                    _put_back(consumer, record.topic, record.partition, offset)
                    continue
            kept.append(record)
        return kept

    def _is_held(self, record: ConsumedRecord) -> bool:
        offset = self._holds.offset((record.topic, record.partition))
        return offset is not None and record.offset >= offset

    # --- the phases of a batch (no consumer: also driven directly by tests) ---------------------

    def route_all(self, records: Sequence[ConsumedRecord]) -> Routed:
        """Decode and route every record; poison is set aside, nothing is sent anywhere."""
        routed = Routed()
        for record in records:
            try:
                routed.inbound.append(self.route(record))
            except (DecodeError, RoutingError) as exc:
                routed.poison.append((record, exc, exc.reason))
            except Exception as exc:
                if _is_outage(exc):
                    raise
                routed.poison.append((record, exc, "routing_error"))
        return routed

    def dead_letter_all(
        self,
        poison: Sequence[tuple[ConsumedRecord, BaseException, str]],
        dead_letters: DeadLetterPublisher,
    ) -> list[Inbound]:
        parking: list[Inbound] = []
        for record, error, reason in poison:
            parking.extend(self._dead_letter(record, error, reason, dead_letters))
        return parking

    def process_inbound(
        self, inbound: list[Inbound], dead_letters: DeadLetterPublisher
    ) -> BatchOutcome:
        try:
            outcome = self._processor.process(inbound)
        except Exception as exc:
            if _is_outage(exc):
                raise
            log.exception("batch failed; isolating the failing message")
            outcome = self._process_one_by_one(inbound, dead_letters)
        for item in outcome.unknown_saga:
            if isinstance(item.envelope.message, MessageDeadLettered):
                # The parking message of a record dead-lettered already, for a saga that does
                # not exist: the record is in its dead-letter topic, once is enough.
                continue
            error = RoutingError("unknown_saga", f"no saga {item.envelope.saga_id} exists")
            dead_letters.publish(
                item.record, error, reason=error.reason, attempts=_attempts(item.record)
            )
            self._count(item.record.topic, "dead_lettered")
            self._metrics.dead_letters.labels(topic=item.record.topic, reason=error.reason).inc()
        return outcome

    def route(self, record: ConsumedRecord) -> Inbound:
        accepted = self.routes.accepted.get(record.topic)
        if accepted is None:
            raise RoutingError("unexpected_topic", f"the worker does not consume {record.topic}")
        message = self._codec.decode(record.topic, record.value, accepted=accepted)
        message_id = record.header(h.MESSAGE_ID) or record.coordinates
        if record.topic in self.routes.start_topics:
            saga_id = self._registry.saga_id_for_start(message)
            if saga_id is None:
                raise RoutingError("not_a_start", f"{message.avro_name} starts no saga")
            is_start = True
        else:
            saga_id = record.header(h.SAGA_ID) or (record.key or b"").decode("utf-8", "replace")
            if not saga_id:
                raise RoutingError("missing_saga_id", f"{record.coordinates} names no saga")
            is_start = False
        attempt = record.header(h.ATTEMPT)
        envelope = Envelope(
            message=message,
            message_id=message_id,
            saga_id=saga_id,
            step=record.header(h.STEP),
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
            correlation_id=record.header(h.CORRELATION_ID),
            causation_id=record.header(h.CAUSATION_ID),
            traceparent=record.header(h.TRACEPARENT),
        )
        return Inbound(record, envelope, is_start)

    def _dead_letter(
        self,
        record: ConsumedRecord,
        error: BaseException,
        reason: str,
        dead_letters: DeadLetterPublisher,
    ) -> list[Inbound]:
        """Dead-letter `record` (acknowledged before its offset is stored) and return the
        message that parks its saga, when the record names one."""
        dead = dead_letters.publish(record, error, reason=reason, attempts=_attempts(record))
        self._count(record.topic, "dead_lettered")
        self._metrics.dead_letters.labels(topic=record.topic, reason=reason).inc()
        log.warning(
            "message dead-lettered",
            coordinates=record.coordinates,
            dead_letter=f"{dead.topic}[{dead.partition}]@{dead.offset}",
            reason=reason,
            error=str(error),
        )
        if record.topic in self.routes.start_topics:
            return []  # a start that never started anything has no saga to park
        # Replies and control messages are keyed by saga id; the header says so explicitly.
        saga_id = record.header(h.SAGA_ID) or (record.key or b"").decode("utf-8", "replace")
        if not saga_id:
            return []
        park = MessageDeadLettered(
            saga_id=saga_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        envelope = Envelope(park, dead_letter_message_id(record), saga_id)
        return [Inbound(record, envelope, is_start=False, counted=False)]

    def _process_one_by_one(
        self, inbound: list[Inbound], dead_letters: DeadLetterPublisher
    ) -> BatchOutcome:
        total = BatchOutcome()
        for item in inbound:
            if total.is_held(item):
                continue  # behind a message held for a missing saga version: not decided
            try:
                outcome = self._processor.process([item])
            except Exception as exc:
                if _is_outage(exc):
                    raise
                failure = HandlingError(f"{type(exc).__name__}: {exc}")
                failure.__cause__ = exc
                failure.__traceback__ = exc.__traceback__
                log.exception("message failed", coordinates=item.record.coordinates)
                parking = self._dead_letter(item.record, failure, "handler_error", dead_letters)
                try:
                    outcome = self._processor.process(parking)
                except Exception as park_error:
                    if _is_outage(park_error):
                        raise
                    log.exception("could not park saga", saga_id=item.envelope.saga_id)
                    continue
            total.add(outcome)
        return total

    def _report_lag(self, consumer: Consumer) -> None:
        """Consumer lag per assigned partition, from the watermarks librdkafka already has
        (cached: no broker round trip on the hot loop)."""
        assigned = [TopicPartition(t, p) for t, p in self._assigned]
        if not assigned:
            return
        for tp in consumer.position(assigned):
            if tp.offset < 0:
                continue  # nothing consumed yet on this partition
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                self._metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(high - tp.offset, 0)
                )

    # --- offsets, rebalances ------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        self._health.set_assigned_partitions(len(self._assigned))
        log.info("partitions assigned", count=len(partitions), total=len(self._assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Commit what is stored now: the next owner starts exactly after our last durable batch.
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit on revoke failed", error=str(exc))
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned -= lost
        for partition in lost:
            # Another worker may change these sagas next: a cached state would be stale.
            self._cache.drop_partition(partition)
        if self._holds:
            self._holds.forget(lost)
            self._metrics.held_partitions.set(len(self._holds))
        self._metrics.forget_partitions(lost)
        self._health.set_assigned_partitions(len(self._assigned))
        log.info("partitions revoked", count=len(partitions), total=len(self._assigned))

    # --- housekeeping: projector, outbox relay, timers (leader only) ---------------------------

    def _housekeeping(self, stop: threading.Event) -> None:
        """Leader only: the outbox relay here; the projector and timers in a second thread, so
        a slow projection page never delays the publication of commands."""
        settings = self._settings
        producer = Producer(producer_config(settings, client_id=f"{self._client_id}-outbox"))
        lease = LeaderLease(settings.database_url, settings.consumer_group)
        leading = threading.Event()
        upkeep = threading.Thread(
            target=self._guarded,
            args=(self._upkeep, stop, leading, producer),
            name="saga-upkeep",
            daemon=True,
        )
        upkeep.start()
        relay: OutboxRelay | None = None
        try:
            while not stop.is_set():
                try:
                    if not lease.holds():
                        leading.clear()
                        relay = None
                        stop.wait(1.0)
                        continue
                    if relay is None:
                        # Newly leading: start from the stored checkpoint, not from where this
                        # process stopped when it last led (another leader moved on since).
                        relay = OutboxRelay(
                            self._store,
                            self._checkpoints,
                            producer,
                            self._codec,
                            name=relay_subscription(settings.consumer_group),
                            saga_types={d.name for d in self._registry.definitions},
                            metrics=self._metrics,
                        )
                    leading.set()
                    published = relay.poll()
                except Exception as exc:
                    if not _is_outage(exc):
                        raise
                    log.warning("outbox relay failed; retrying", error=repr(exc))
                    relay = None
                    stop.wait(1.0)
                    continue
                if not published:
                    stop.wait(0.01)  # idle: look at the log again shortly (command latency)
        finally:
            leading.clear()
            upkeep.join(timeout=10)
            producer.flush(30)
            lease.release()

    def _guarded(self, target: Callable[..., None], stop: threading.Event, *args: object) -> None:
        """Run a background loop; if it dies of a bug, stop the worker (non-zero exit, the
        orchestrator restarts it) instead of leaving a process that consumes but never
        publishes."""
        try:
            target(stop, *args)
        except BaseException as exc:
            log.exception("background thread failed; stopping the worker")
            self._fatal = exc
            stop.set()

    def _upkeep(self, stop: threading.Event, leading: threading.Event, producer: Producer) -> None:
        timers = TimerPoller(self._settings.database_url, producer, self._codec, self._registry)
        probe = BacklogProbe(
            self._settings.database_url, relay_subscription(self._settings.consumer_group)
        )
        next_timer_poll = 0.0
        next_probe = 0.0
        try:
            while not stop.is_set():
                if not leading.wait(0.5):
                    # Only the leader measures the backlog; a stale figure left by a former
                    # leader would keep SagaOutboxStalled firing (alerts take the max).
                    self._metrics.outbox_backlog.set(0)
                    continue
                try:
                    projected = self._projector_poll() if self._projector_poll else 0
                    fired = 0
                    if time.monotonic() >= next_timer_poll:
                        fired = timers.poll(self._clock())
                        self._metrics.timers_fired.inc(fired)
                        next_timer_poll = time.monotonic() + (0.0 if fired else 0.2)
                    if time.monotonic() >= next_probe:
                        self._metrics.outbox_backlog.set(probe.backlog())
                        next_probe = time.monotonic() + 1.0
                    if self._anchors is not None:
                        self._anchors.poll()  # logs its own failures; never stops the loop
                except Exception as exc:
                    if not _is_outage(exc):
                        raise
                    log.warning("projector or timers failed; retrying", error=repr(exc))
                    stop.wait(1.0)
                    continue
                if not projected and not fired:
                    stop.wait(0.01)
        finally:
            timers.close()
            probe.close()

    # --- metrics ------------------------------------------------------------------------------

    def _count(self, topic: str, outcome: str) -> None:
        self._metrics.messages_consumed.labels(topic=topic, outcome=outcome).inc()

    def _observe(
        self, records: Sequence[ConsumedRecord], outcome: BatchOutcome, seconds: float
    ) -> None:
        metrics = self._metrics
        metrics.batch_size.observe(len(records))
        metrics.batch_duration.observe(seconds)
        metrics.store_append_duration.observe(outcome.append_seconds)
        metrics.events_appended.inc(outcome.appended_events)
        if outcome.cache_hits:
            metrics.state_cache.labels(result="hit").inc(outcome.cache_hits)
        if outcome.cache_misses:
            metrics.state_cache.labels(result="miss").inc(outcome.cache_misses)
            metrics.replay_duration.observe(outcome.replay_seconds / outcome.cache_misses)
        # Once per (topic, outcome), not per message; dead letters are counted where sent.
        for (topic, result), count in outcome.consumed.items():
            metrics.messages_consumed.labels(topic=topic, outcome=result).inc(count)
        for transition in outcome.transitions:
            if transition.before is None:
                metrics.sagas_started.labels(saga_type=transition.saga_type).inc()
            if transition.terminal:
                if transition.started_at:
                    elapsed = self._clock() - datetime.fromisoformat(transition.started_at)
                    metrics.saga_duration.labels(
                        saga_type=transition.saga_type, status=transition.after
                    ).observe(max(elapsed.total_seconds(), 0.0))
                metrics.sagas_finished.labels(
                    saga_type=transition.saga_type, status=transition.after
                ).inc()
                if transition.after == "compensation_failed":
                    metrics.compensation_failed.labels(saga_type=transition.saga_type).inc()
                    log.error("saga compensation failed", saga_id=transition.saga_id, alert=True)


def _is_outage(error: BaseException) -> bool:
    """True when `error` says a dependency (or our access to it) is unwell, not the message:
    the batch is kept and retried with consumption paused, never dead-lettered. Only data the
    database rejects (DataError, IntegrityError) or the store refuses (InvalidEventError) is
    the message's fault."""
    if isinstance(
        error,
        RegistryUnavailableError | PublishError | DeadLetterError | ConflictStormError,
    ):
        return True
    if isinstance(error, psycopg.Error):
        # Connection loss, failover to a read-only standby, a missing grant or table after a
        # bad deploy: all are the deployment's problem, and all end when it is fixed.
        return not isinstance(error, psycopg.DataError | psycopg.IntegrityError)
    if isinstance(error, EventStoreError):
        return not isinstance(error, InvalidEventError)
    return is_transient(error)


def _dependency_of(error: BaseException) -> str:
    if isinstance(error, RegistryUnavailableError):
        return "registry"
    if isinstance(error, psycopg.Error | EventStoreError | ConflictStormError):
        return "postgres"
    return "kafka"


def _put_back(consumer: Consumer, topic: str, partition: int, offset: int) -> TopicPartition:
    """Rewind `partition` to `offset` and pause it: nothing from there on is consumed until it
    is resumed (or reassigned, from the committed offset)."""
    consumer.seek(TopicPartition(topic, partition, offset))
    paused = TopicPartition(topic, partition)
    consumer.pause([paused])
    return paused


def _attempts(record: ConsumedRecord) -> int:
    value = record.header(h.DELIVERY_ATTEMPT)
    return int(value) if value and value.isdigit() else 1
