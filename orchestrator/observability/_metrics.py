"""Prometheus collectors for the worker, all in one place so names stay consistent.

Naming follows Prometheus practice: `saga_` prefix, base units (`_seconds`), `_total` on
counters. No label ever carries a saga id or message id: per-instance labels would create one
time series per saga and exhaust Prometheus memory; ids belong in logs and traces.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Final, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

ConsumeOutcome = Literal["processed", "duplicate", "ignored", "dead_lettered"]
CacheResult = Literal["hit", "miss"]
Dependency = Literal["postgres", "kafka", "registry"]

CONSUME_OUTCOMES: Final[tuple[ConsumeOutcome, ...]] = (
    "processed",
    "duplicate",
    "ignored",
    "dead_lettered",
)
CACHE_RESULTS: Final[tuple[CacheResult, ...]] = ("hit", "miss")
DEPENDENCIES: Final[tuple[Dependency, ...]] = ("postgres", "kafka", "registry")
# The terminal statuses of orchestrator.saga.SagaStatus, spelled out because this package must
# not import the saga layer (a unit test pins the two together). `compensation_failed` pages.
SAGA_STATUSES: Final = ("completed", "compensated", "failed", "compensation_failed", "cancelled")

# A batch is capped by SAGA_BATCH_MAX_MESSAGES (default 500); the top buckets cover larger caps.
BATCH_SIZE_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
# Batch and store latencies: a single-row commit costs ~2 ms, a large batch tens of ms, a
# dependency retry seconds.
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# A saga spans from one round trip of replies (~10 ms) to step timeouts of minutes.
SAGA_DURATION_BUCKETS: Final = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


class Metrics:
    """The worker's collectors, registered on one `CollectorRegistry`.

    Tests build `Metrics(CollectorRegistry())` and read samples from that registry; production
    uses `default_metrics()`. Registering the same names twice on one registry raises, which is
    why the default instance is built once.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry: Final = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
        ) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        # Consumption
        self.messages_consumed: Final = counter(
            "saga_messages_consumed_total",
            "Kafka messages consumed, by topic and outcome "
            "(processed, duplicate, ignored, dead_lettered).",
            ("topic", "outcome"),
        )
        self.batch_size: Final = histogram(
            "saga_batch_size", "Messages per consumed batch.", BATCH_SIZE_BUCKETS
        )
        self.batch_duration: Final = histogram(
            "saga_batch_duration_seconds",
            "Time from a batch's first decoded message to its offsets being stored.",
            LATENCY_BUCKETS,
        )
        self.consumer_lag: Final = gauge(
            "saga_consumer_lag",
            "Messages between the committed offset and the high watermark, per assigned "
            "partition (remove the series when a partition is revoked).",
            ("topic", "partition"),
        )
        self.worker_paused: Final = gauge(
            "saga_worker_paused",
            "1 while consumption is paused because a dependency is unavailable, else 0.",
        )
        self.transient_errors: Final = counter(
            "saga_transient_errors_total",
            "Retried transient errors, by dependency (postgres, kafka, registry).",
            ("dependency",),
        )
        self.dead_letters: Final = counter(
            "saga_dead_letters_total",
            "Messages sent to a dead-letter topic, by original topic and reason.",
            ("topic", "reason"),
        )
        self.missing_version: Final = counter(
            "saga_worker_missing_version_total",
            "Times a partition was held at a message of a saga whose definition version this "
            "worker does not register (left for a worker that has it), by saga type and version.",
            ("saga_type", "version"),
        )
        self.held_partitions: Final = gauge(
            "saga_worker_held_partitions",
            "Partitions paused at a message of a saga version this worker does not register.",
        )

        # Event store
        self.store_append_duration: Final = histogram(
            "saga_store_append_duration_seconds",
            "Duration of one batch append transaction, commit included.",
            LATENCY_BUCKETS,
        )
        self.events_appended: Final = counter(
            "saga_events_appended_total", "Events appended to the event store."
        )
        self.state_cache: Final = counter(
            "saga_state_cache_total",
            "Saga state lookups in the partition cache, by result (hit, miss).",
            ("result",),
        )
        self.replay_duration: Final = histogram(
            "saga_replay_duration_seconds",
            "Time to rebuild one saga's state from the event store on a cache miss.",
            LATENCY_BUCKETS,
        )

        # Publishing
        self.commands_published: Final = counter(
            "saga_commands_published_total",
            "Commands acknowledged by Kafka, by destination topic.",
            ("topic",),
        )
        self.outbox_backlog: Final = gauge(
            "saga_outbox_backlog_events",
            "Committed events the outbox relay has not passed yet (measured by the leading "
            "worker; 0 on the others).",
        )
        self.timers_fired: Final = counter("saga_timers_fired_total", "Saga timers fired.")

        # Saga lifecycle
        self.sagas_started: Final = counter(
            "saga_started_total", "Saga instances started.", ("saga_type",)
        )
        self.sagas_finished: Final = counter(
            "saga_finished_total",
            "Saga instances that reached a terminal status.",
            ("saga_type", "status"),
        )
        self.saga_duration: Final = histogram(
            "saga_duration_seconds",
            "Time from a saga's start to its terminal status.",
            SAGA_DURATION_BUCKETS,
            ("saga_type", "status"),
        )
        self.compensation_failed: Final = counter(
            "saga_compensation_failed_total",
            "Sagas left in compensation_failed: each one needs a human (alert on increase).",
            ("saga_type",),
        )
        self.sagas_parked: Final = counter(
            "saga_parked_total",
            "Sagas parked (a message of theirs was dead-lettered, or an operator parked them).",
            ("saga_type",),
        )
        self.step_duration: Final = histogram(
            "saga_step_duration_seconds",
            "Time from a step's command being issued to the reply that ended the step (a "
            "compensation counts under its step), by saga type and step.",
            SAGA_DURATION_BUCKETS,
            ("saga_type", "step"),
        )
        # The two gauges below come from the saga_instances projection (its status and
        # updated_at indexes; never the event log), measured by the leading worker only, like
        # the outbox backlog: the others report no series, so sums and maxes stay right.
        self.sagas_in_flight: Final = gauge(
            "saga_in_flight",
            "Sagas in an active status (started, running, compensating), by saga type.",
            ("saga_type",),
        )
        self.sagas_stuck: Final = gauge(
            "saga_stuck",
            "Active sagas with no event for longer than SAGA_STUCK_AFTER_S, by saga type "
            "(`sagactl saga stuck` names them).",
            ("saga_type",),
        )

        # Series for every known label value exist from the start at 0, so `rate()` and
        # `increase()` see the first event instead of a series appearing out of nowhere.
        for result in CACHE_RESULTS:
            self.state_cache.labels(result=result)
        for dependency in DEPENDENCIES:
            self.transient_errors.labels(dependency=dependency)
        self.worker_paused.set(0)
        self.held_partitions.set(0)

    def register_saga_types(self, saga_types: Iterable[str]) -> None:
        """Create the per-saga-type series at 0 (the worker knows its saga classes at start).

        An alert on `increase(saga_compensation_failed_total[10m]) > 0` cannot fire on the first
        failure of a type whose series does not exist yet; this makes it exist.
        """
        for saga_type in saga_types:
            self.sagas_started.labels(saga_type=saga_type)
            self.compensation_failed.labels(saga_type=saga_type)
            self.sagas_parked.labels(saga_type=saga_type)
            for status in SAGA_STATUSES:
                self.sagas_finished.labels(saga_type=saga_type, status=status)

    def register_topics(self, topics: Iterable[str]) -> None:
        """Create the per-topic consumption series at 0 for the topics the worker subscribes."""
        for topic in topics:
            for outcome in CONSUME_OUTCOMES:
                self.messages_consumed.labels(topic=topic, outcome=outcome)

    def set_saga_gauges(
        self, in_flight: Mapping[str, int], stuck: Mapping[str, int], saga_types: Iterable[str]
    ) -> None:
        """Publish one measurement of the projection gauges; a known type absent from the
        counts is at 0 (not a stale figure from the previous measurement)."""
        for saga_type in saga_types:
            self.sagas_in_flight.labels(saga_type=saga_type).set(in_flight.get(saga_type, 0))
            self.sagas_stuck.labels(saga_type=saga_type).set(stuck.get(saga_type, 0))

    def clear_saga_gauges(self) -> None:
        """A worker that stops leading stops reporting them (the new leader does)."""
        self.sagas_in_flight.clear()
        self.sagas_stuck.clear()

    def forget_partitions(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop lag series of revoked partitions, so a partition now owned by another worker
        is not reported (and summed) twice."""
        for topic, partition in partitions:
            # prometheus_client ignores a label set it never saw: no need to track our own.
            self.consumer_lag.remove(topic, str(partition))


@functools.cache
def default_metrics() -> Metrics:
    """The process-wide `Metrics` on prometheus_client's default registry (built once)."""
    return Metrics(REGISTRY)
