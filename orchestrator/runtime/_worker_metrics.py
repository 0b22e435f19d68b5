"""What the worker tells Prometheus: per batch (sizes, durations, appended events, cache),
per message outcome, per saga transition, and the consumer lag of its partitions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import structlog
from confluent_kafka import Consumer, TopicPartition

from orchestrator.kafka import ConsumedRecord
from orchestrator.observability import Metrics
from orchestrator.runtime._processor import BatchOutcome

log = structlog.get_logger(__name__)

Partition = tuple[str, int]


class WorkerMetrics:
    def __init__(self, metrics: Metrics, clock: Callable[[], datetime]) -> None:
        self.metrics = metrics
        self._clock = clock

    def register(self, topics: Sequence[str], saga_types: set[str]) -> None:
        self.metrics.register_topics(topics)
        self.metrics.register_saga_types(saga_types)

    def count(self, topic: str, outcome: str) -> None:
        self.metrics.messages_consumed.labels(topic=topic, outcome=outcome).inc()

    def dead_lettered(self, topic: str, reason: str) -> None:
        self.count(topic, "dead_lettered")
        self.metrics.dead_letters.labels(topic=topic, reason=reason).inc()

    def batch(
        self, records: Sequence[ConsumedRecord], outcome: BatchOutcome, seconds: float
    ) -> None:
        metrics = self.metrics
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
        for saga_type, step, took in outcome.step_durations:
            metrics.step_duration.labels(saga_type=saga_type, step=step).observe(took)
        for transition in outcome.transitions:
            if transition.before is None:
                metrics.sagas_started.labels(saga_type=transition.saga_type).inc()
            if transition.after == "parked":
                metrics.sagas_parked.labels(saga_type=transition.saga_type).inc()
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

    def lag(self, consumer: Consumer, assigned: Iterable[Partition]) -> None:
        """Consumer lag per assigned partition, from the watermarks librdkafka already has
        (cached: no broker round trip on the hot loop)."""
        partitions = [TopicPartition(t, p) for t, p in assigned]
        if not partitions:
            return
        for tp in consumer.position(partitions):
            if tp.offset < 0:
                continue  # nothing consumed yet on this partition
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(high - tp.offset, 0)
                )
