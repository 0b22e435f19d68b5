"""The outage pause: while a dependency (PostgreSQL, Kafka, the registry) is down, the batch in
hand is retried with capped backoff and the assigned partitions are paused, so the worker stays
in its group, consumes nothing, and dead-letters nothing healthy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

import structlog
from confluent_kafka import Consumer, TopicPartition

from orchestrator import outage
from orchestrator.kafka import ConsumedRecord
from orchestrator.observability import HealthState, Metrics
from orchestrator.runtime._processor import ConflictStormError

log = structlog.get_logger(__name__)
T = TypeVar("T")
Partition = tuple[str, int]

MAX_OUTAGE_BACKOFF_S: Final = 5.0


def is_outage(error: BaseException) -> bool:
    """`orchestrator.outage.is_outage`, and streams that keep conflicting (another writer is
    thrashing them: the batch is retried later, like an outage)."""
    return isinstance(error, ConflictStormError) or outage.is_outage(error)


def dependency_of(error: BaseException) -> outage.Dependency:
    return "postgres" if isinstance(error, ConflictStormError) else outage.dependency_of(error)


def put_back(consumer: Consumer, topic: str, partition: int, offset: int) -> TopicPartition:
    """Rewind `partition` to `offset` and pause it: nothing from there on is consumed until it
    is resumed (or reassigned, from the committed offset)."""
    consumer.seek(TopicPartition(topic, partition, offset))
    paused = TopicPartition(topic, partition)
    consumer.pause([paused])
    return paused


class OutagePause:
    """One batch's pause: `until_done` each phase, then `end` (resumes what it paused)."""

    def __init__(
        self,
        consumer: Consumer,
        stop: threading.Event,
        metrics: Metrics,
        health: HealthState,
        resumable: Callable[[Partition], bool],
    ) -> None:
        self._consumer = consumer
        self._stop = stop
        self._metrics = metrics
        self._health = health
        self._resumable = resumable
        self._paused: list[TopicPartition] = []

    def until_done(self, work: Callable[[], T]) -> T:
        """`work()`, retried while a dependency is down; the first outage pauses consumption."""
        delay = 0.05
        while True:
            try:
                return work()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._report(exc)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if self._stop.is_set():
                        raise
                    self._health.beat()
                    self._hold(min(0.1, delay))
                delay = min(delay * 2, MAX_OUTAGE_BACKOFF_S)

    def _report(self, error: BaseException) -> None:
        dependency = dependency_of(error)
        self._metrics.transient_errors.labels(dependency=dependency).inc()
        if dependency == "postgres":
            self._health.set_postgres(False)
        elif dependency == "kafka":
            self._health.set_kafka(False)
        if not self._paused:
            self._paused.extend(self._consumer.assignment())
            self._consumer.pause(self._paused)
            self._metrics.worker_paused.set(1)
            log.warning("dependency down; consumption paused", error=repr(error))

    def _hold(self, timeout: float) -> None:
        """Poll while paused (keeps the group membership, serves rebalances). A partition
        assigned during the outage is not paused yet: whatever it returns is put back (seek)
        and the partition paused too, so nothing is consumed past and lost."""
        message = self._consumer.poll(timeout)
        if message is None or message.error() is not None:
            return
        record = ConsumedRecord.from_message(message)
        self._paused.append(put_back(self._consumer, record.topic, record.partition, record.offset))

    def end(self) -> None:
        """Resume what the outage paused, except partitions revoked meanwhile and partitions
        held for a missing saga version (they wait for their own retry)."""
        if not self._paused:
            return
        self._consumer.resume(
            [tp for tp in self._paused if self._resumable((tp.topic, tp.partition))]
        )
        self._metrics.worker_paused.set(0)
        log.info("dependency back; consumption resumed")
