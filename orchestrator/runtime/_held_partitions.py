"""Partitions the worker leaves alone because their next message belongs to a saga version it
does not register (a rolling deploy): put back at that message and paused by the same pause
used for outages, looked at again after the capped backoff of `VersionHolds`, while the other
partitions go on. This module applies the holds to the consumer; `_holds` keeps the books."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from confluent_kafka import Consumer, TopicPartition

from orchestrator.kafka import ConsumedRecord
from orchestrator.observability import Metrics
from orchestrator.runtime._holds import VersionHolds
from orchestrator.runtime._outage_pause import put_back
from orchestrator.runtime._processor import BatchOutcome

log = structlog.get_logger(__name__)

Partition = tuple[str, int]


class HeldPartitions:
    def __init__(self, assigned: set[Partition], metrics: Metrics) -> None:
        self._assigned = assigned  # the worker's own set, kept current by its rebalance callbacks
        self._metrics = metrics
        self.holds = VersionHolds()

    def __bool__(self) -> bool:
        return bool(self.holds)

    def update(
        self, consumer: Consumer, records: Sequence[ConsumedRecord], outcome: BatchOutcome
    ) -> None:
        """Put back and pause the partitions this batch held; end the retried holds whose
        message went through."""
        for partition, held in outcome.held.items():
            if partition not in self._assigned:
                continue  # revoked meanwhile: its next owner starts from the committed offset
            hold = self.holds.hold(partition, held)
            put_back(consumer, partition[0], partition[1], held.offset)
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
        for hold in self.holds.passed(delivered):
            log.info(
                "held partition processed again",
                topic=hold.partition[0],
                partition=hold.partition[1],
                offset=hold.held.offset,
            )
        self._metrics.held_partitions.set(len(self.holds))

    def retry_due(self, consumer: Consumer) -> None:
        """Resume the held partitions whose backoff is over: the next batch fetches their held
        message again (holding it once more, with a longer wait, if the version is still
        missing)."""
        due = [
            TopicPartition(*hold.partition)
            for hold in self.holds.due()
            if hold.partition in self._assigned
        ]
        if due:
            consumer.resume(due)

    def drop_held(self, consumer: Consumer, records: list[ConsumedRecord]) -> list[ConsumedRecord]:
        """Records of a paused held partition (fetched before the pause took effect) are not
        this batch's: put the partition back again and leave them out."""
        kept: list[ConsumedRecord] = []
        for record in records:
            partition = (record.topic, record.partition)
            if self.holds.is_paused(partition):
                offset = self.holds.offset(partition)
                assert offset is not None
                if record.offset >= offset:
                    put_back(consumer, record.topic, record.partition, offset)
                    continue
            kept.append(record)
        return kept

    def is_held(self, record: ConsumedRecord) -> bool:
        offset = self.holds.offset((record.topic, record.partition))
        return offset is not None and record.offset >= offset

    def is_paused(self, partition: Partition) -> bool:
        return self.holds.is_paused(partition)

    def forget(self, partitions: set[Partition]) -> None:
        if self.holds:
            self.holds.forget(partitions)
            self._metrics.held_partitions.set(len(self.holds))
