"""The worker's dead-letter policy: which records go to `<topic>.dlt`, and what their sagas
are told.

- poison (undecodable, unroutable) is dead-lettered before its offset is stored, and its saga,
  when the record names one, parked by a MessageDeadLettered message decided like any other;
- a message for a saga that does not exist is dead-lettered after the batch says so;
- a batch that fails for any reason that is not an outage is split into single messages, so
  only the message that fails is dead-lettered and the rest go on (no poison blocks a
  partition).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Final

import structlog

from orchestrator import headers as h
from orchestrator.kafka import ConsumedRecord, DeadLetterPublisher
from orchestrator.runtime._batch_trace import BatchTrace
from orchestrator.runtime._outage_pause import is_outage
from orchestrator.runtime._processor import BatchOutcome, Inbound, SagaProcessor
from orchestrator.runtime._routing import Poison, Routes, RoutingError, saga_id_of
from orchestrator.runtime._worker_metrics import WorkerMetrics
from orchestrator.saga import Envelope, MessageDeadLettered

log = structlog.get_logger(__name__)

# Part of the on-disk format: the message id under which a dead-lettered record parks its saga.
_DEAD_LETTER_NAMESPACE: Final = uuid.UUID("3c9f6a1e-7b2d-4e58-a0c4-8d1e5f2b6a97")


class HandlingError(Exception):
    """Deciding a message raised; wraps the cause for the dead-letter headers."""


def dead_letter_message_id(record: ConsumedRecord) -> str:
    return str(uuid.uuid5(_DEAD_LETTER_NAMESPACE, record.coordinates))


def attempts_of(record: ConsumedRecord) -> int:
    value = record.header(h.DELIVERY_ATTEMPT)
    return int(value) if value and value.isdigit() else 1


class DeadLetterPolicy:
    def __init__(
        self,
        routes: Routes,
        processor: SagaProcessor,
        publisher: DeadLetterPublisher,
        metrics: WorkerMetrics,
        trace: BatchTrace | None = None,
    ) -> None:
        self._routes = routes
        self._processor = processor
        self._publisher = publisher
        self._metrics = metrics
        self._trace = trace  # marks the dead letter on its message's span, binds its log line

    def dead_letter_all(self, poison: Sequence[Poison]) -> list[Inbound]:
        """Dead-letter every poison record; the messages that park their sagas."""
        parking: list[Inbound] = []
        for record, error, reason in poison:
            parking.extend(self.dead_letter(record, error, reason))
        return parking

    def dead_letter(
        self, record: ConsumedRecord, error: BaseException, reason: str
    ) -> list[Inbound]:
        """Dead-letter `record` (acknowledged before its offset is stored) and return the
        message that parks its saga, when the record names one."""
        dead = self._publisher.publish(record, error, reason=reason, attempts=attempts_of(record))
        self._metrics.dead_lettered(record.topic, reason)
        with self._trace.logging(record) if self._trace is not None else nullcontext():
            log.warning(
                "message dead-lettered",
                coordinates=record.coordinates,
                dead_letter=f"{dead.topic}[{dead.partition}]@{dead.offset}",
                reason=reason,
                error=str(error),
            )
        if self._trace is not None:
            self._trace.dead_lettered(record, dead, error)
        if record.topic in self._routes.start_topics:
            return []  # a start that never started anything has no saga to park
        saga_id = saga_id_of(record)
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

    def process(self, inbound: list[Inbound]) -> BatchOutcome:
        """Decide and append `inbound` in one transaction; if that fails for a reason that is
        not an outage, one message at a time, dead-lettering the ones that fail."""
        try:
            outcome = self._processor.process(inbound)
        except Exception as exc:
            if is_outage(exc):
                raise
            log.exception("batch failed; isolating the failing message")
            outcome = self._one_by_one(inbound)
        for item in outcome.unknown_saga:
            if isinstance(item.envelope.message, MessageDeadLettered):
                # The parking message of a record dead-lettered already, for a saga that does
                # not exist: the record is in its dead-letter topic, once is enough.
                continue
            error = RoutingError("unknown_saga", f"no saga {item.envelope.saga_id} exists")
            dead = self._publisher.publish(
                item.record, error, reason=error.reason, attempts=attempts_of(item.record)
            )
            if self._trace is not None:
                self._trace.dead_lettered(item.record, dead, error)
            self._metrics.dead_lettered(item.record.topic, error.reason)
        return outcome

    def _one_by_one(self, inbound: list[Inbound]) -> BatchOutcome:
        total = BatchOutcome()
        for item in inbound:
            if total.is_held(item):
                continue  # behind a message held for a missing saga version: not decided
            try:
                outcome = self._processor.process([item])
            except Exception as exc:
                if is_outage(exc):
                    raise
                failure = HandlingError(f"{type(exc).__name__}: {exc}")
                failure.__cause__ = exc
                failure.__traceback__ = exc.__traceback__
                with self._trace.logging(item.record) if self._trace else nullcontext():
                    log.exception("message failed", coordinates=item.record.coordinates)
                parking = self.dead_letter(item.record, failure, "handler_error")
                try:
                    outcome = self._processor.process(parking)
                except Exception as park_error:
                    if is_outage(park_error):
                        raise
                    log.exception("could not park saga", saga_id=item.envelope.saga_id)
                    continue
            total.add(outcome)
        return total
