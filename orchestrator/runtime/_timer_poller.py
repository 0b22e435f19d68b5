"""The timer poller: due timers of the `timers` read model become TimerFired messages on the
saga's reply topic, keyed by saga id, so the worker that owns the saga's partition decides what
they mean.

The TimerFired message id is derived from the timer id: a timer fired twice (a crash before the
worker recorded the firing) is deduplicated like any redelivery. A leader duty, like the relay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from confluent_kafka import Producer
from opentelemetry.trace import Tracer

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.kafka import DeliveryTracker
from orchestrator.observability import saga_attributes, stored_trace_send
from orchestrator.runtime._ports import Timers
from orchestrator.saga import SagaRegistry, TimerFired, timer_message_id

# On the send span of a fired timer: which timer (its purpose, step and attempt are in the id).
TIMER_ID_ATTRIBUTE = "saga.timer.id"


class TimerPoller:
    """Turns due timers into TimerFired messages. A timer stays 'scheduled' in the read model
    until the worker records TimerFired, so it is re-sent at most every `resend_after_s`."""

    def __init__(
        self,
        timers: Timers,
        producer: Producer,
        codec: Codec,
        registry: SagaRegistry,
        *,
        batch_size: int = 1000,
        resend_after_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        tracer: Tracer | None = None,
    ) -> None:
        self._timers = timers
        self._producer = producer
        self._codec = codec
        self._registry = registry
        self._saga_types = sorted(d.name for d in registry.definitions)
        self._batch_size = batch_size
        self._resend_after_s = resend_after_s
        self._monotonic = monotonic
        self._sent: dict[str, float] = {}  # timer id -> monotonic time sent
        self._delivery = DeliveryTracker()
        # A firing continues its saga's trace (from the stream's first event); None: off.
        self._tracer = tracer
        self.fired = 0

    def poll(self, now: datetime) -> int:
        started = self._monotonic()
        self._sent = {k: t for k, t in self._sent.items() if started - t < self._resend_after_s}
        fired = 0
        for timer in self._timers.due(now, self._saga_types, self._batch_size):
            if timer.timer_id in self._sent:
                continue
            topic = self._registry.get(timer.saga_type).reply_topic
            message = TimerFired(
                saga_id=timer.stream_id,
                timer_id=timer.timer_id,
                fire_at=timer.fire_at.isoformat(timespec="milliseconds"),
            )
            message_id = timer_message_id(timer.timer_id)
            with stored_trace_send(
                self._tracer,
                traceparent=timer.traceparent,
                topic=topic,
                key=timer.stream_id,
                message_id=message_id,
                headers=[
                    (h.MESSAGE_ID, message_id),
                    (h.SAGA_ID, timer.stream_id),
                    (h.SAGA_TYPE, timer.saga_type),
                ],
                attributes={
                    **saga_attributes(saga_id=timer.stream_id, saga_type=timer.saga_type),
                    TIMER_ID_ATTRIBUTE: timer.timer_id,
                },
            ) as headers:
                self._producer.produce(
                    topic,
                    key=timer.stream_id.encode(),
                    value=self._codec.encode(topic, message),
                    headers=headers,
                    on_delivery=self._delivery,
                )
            self._sent[timer.timer_id] = started
            fired += 1
        if fired:
            self._delivery.raise_if_failed(self._producer, 30.0)
            self.fired += fired
        return fired

    def close(self) -> None:
        self._timers.close()
