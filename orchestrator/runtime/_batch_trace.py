"""The worker's spans and per-message log lines for one consumed batch.

    poll (receive, the batch)                     a trace of its own, per batch
      └ decide and append                         linked to every message's span
    process <topic>   (one per message)           in its saga's trace, under the span that
                                                  sent the message; the events it causes
                                                  record this span as their traceparent, so
                                                  the relay's send of each command hangs here

Every message span carries the messaging attributes and saga.id / type / step / attempt, and
after the decision saga.outcome (the saga's status, or duplicate / ignored / dead_lettered).
With tracing off no span is made, and the messages' own traceparents are recorded as before.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import structlog
from opentelemetry.trace import Tracer

from orchestrator import headers as h
from orchestrator.kafka import ConsumedRecord, DeadLetter
from orchestrator.observability import MessageSpans, active_tracer, decide_span, receive_span
from orchestrator.runtime._processor import BatchOutcome, Inbound
from orchestrator.runtime._routing import saga_id_of

log = structlog.get_logger(__name__)
# structlog renders through stdlib logging (configure_logging): its level decides.
_level = logging.getLogger(__name__)


class BatchTrace:
    def __init__(self, tracer: Tracer | None, consumer_group: str) -> None:
        self._tracer = active_tracer(tracer)
        self._group = consumer_group
        self.spans: MessageSpans | None = None  # the batch in progress

    @contextmanager
    def batch(self, records: Sequence[ConsumedRecord]) -> Iterator[MessageSpans]:
        """Open the batch's span and one span per record; all ended when the batch is done."""
        spans = MessageSpans(self._tracer, self._group)
        with self._receive(len(records)):
            for record in records:
                saga_id = saga_id_of(record) or None
                spans.start_record(record, message_id=record.header(h.MESSAGE_ID), saga_id=saga_id)
            self.spans = spans
            try:
                yield spans
            finally:
                self.spans = None
                spans.end_all()

    @contextmanager
    def _receive(self, count: int) -> Iterator[None]:
        if self._tracer is None:
            yield
            return
        with receive_span(consumer_group=self._group, message_count=count, tracer=self._tracer):
            yield

    @contextmanager
    def deciding(self, spans: MessageSpans) -> Iterator[None]:
        if self._tracer is None:
            yield
            return
        with decide_span(messages=spans.spans, tracer=self._tracer):
            yield

    @staticmethod
    def traced(spans: MessageSpans, inbound: Sequence[Inbound]) -> list[Inbound]:
        """`inbound` with each envelope's traceparent naming its message's span: the events a
        message causes continue the saga's trace from there (unchanged while tracing is off)."""
        traced: list[Inbound] = []
        for item in inbound:
            envelope = item.envelope
            parent = spans.traceparent(item.record.coordinates, envelope.traceparent)
            if parent == envelope.traceparent:
                traced.append(item)
            else:
                envelope = dataclasses.replace(envelope, traceparent=parent)
                traced.append(dataclasses.replace(item, envelope=envelope))
        return traced

    def dead_lettered(self, record: ConsumedRecord, dead: DeadLetter, error: BaseException) -> None:
        if self.spans is not None:
            self.spans.dead_lettered(
                record.coordinates, reason=dead.reason, dead_letter_topic=dead.topic, error=error
            )

    @contextmanager
    def logging(self, record: ConsumedRecord) -> Iterator[None]:
        """The record's saga coordinates and trace ids on every log line in scope."""
        spans = self.spans
        if spans is None or spans.get(record.coordinates) is None:
            yield
            return
        with spans.logging(record.coordinates):
            yield

    def settled(self, spans: MessageSpans, outcome: BatchOutcome) -> None:
        """Record what became of each message on its span, and log it at debug level."""
        debug = _level.isEnabledFor(logging.DEBUG)
        for coordinates, decided in outcome.decided.items():
            outcome_name = decided.lifecycle if decided.result == "processed" else decided.result
            spans.annotate(coordinates, step=decided.step, outcome=outcome_name)
            if debug and spans.get(coordinates) is not None:
                with spans.logging(coordinates):
                    log.debug(
                        "message decided",
                        result=decided.result,
                        saga_status=decided.lifecycle,
                        events=list(decided.events),
                    )
