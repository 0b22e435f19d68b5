"""How a service starts a saga: produce its start command, keyed and identified so that
starting twice (a retry, a duplicate request) opens one saga, not two.

The send of the start command is the root span of the saga's trace (or a child of the caller's
span, when the caller is traced): its traceparent travels in the command's headers, and every
span of the saga, in the worker and in every participant, descends from it."""

from __future__ import annotations

import uuid
from typing import Final

from confluent_kafka import KafkaError, Producer
from opentelemetry.trace import Tracer

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.messages import Message
from orchestrator.observability import inject_trace_context, saga_attributes, send_span
from orchestrator.saga import Saga, saga_id_for

# Part of the wire format: the message id of a saga's start command. Never change.
_START_NAMESPACE: Final = uuid.UUID("9d2c5e7a-41b3-4f0e-8c6d-2a7b1e4f9c35")


def start_message_id(saga_id: str) -> str:
    return str(uuid.uuid5(_START_NAMESPACE, saga_id))


class StartNotAcknowledgedError(Exception):
    pass


class SagaStarter:
    """Produces start commands. `start` returns the saga id once the broker has the message
    (call `flush` after a burst of `start(..., wait=False)` calls)."""

    def __init__(self, producer: Producer, codec: Codec, *, tracer: Tracer | None = None) -> None:
        self._producer = producer
        self._codec = codec
        self._tracer = tracer  # None: the global tracer (a no-op while tracing is off)
        self._failures: list[KafkaError] = []

    def start(
        self,
        saga: type[Saga],
        message: Message,
        *,
        correlation_id: str | None = None,
        wait: bool = True,
    ) -> str:
        definition = saga.definition
        if not isinstance(message, definition.start_type):
            raise TypeError(
                f"{definition.name} starts with {definition.start_type.__name__}, "
                f"not {type(message).__name__}"
            )
        saga_id = saga_id_for(definition.name, definition.business_key(message))
        message_id = start_message_id(saga_id)
        headers: list[tuple[str, bytes]] = [
            (h.MESSAGE_ID, message_id.encode()),
            (h.SAGA_ID, saga_id.encode()),
            (h.SAGA_TYPE, definition.name.encode()),
            (h.CORRELATION_ID, (correlation_id or saga_id).encode()),
        ]
        with send_span(
            topic=definition.start_topic,
            key=saga_id,
            message_id=message_id,
            tracer=self._tracer,
        ) as span:
            span.set_attributes(saga_attributes(saga_id=saga_id, saga_type=definition.name))
            self._producer.produce(
                definition.start_topic,
                key=saga_id.encode(),
                value=self._codec.encode(definition.start_topic, message),
                headers=list[tuple[str, str | bytes | None]](inject_trace_context(headers)),
                on_delivery=self._on_delivery,
            )
        if wait:
            self.flush()
        else:
            self._producer.poll(0)
        return saga_id

    def flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise StartNotAcknowledgedError(f"{remaining} start commands not acknowledged")
        if self._failures:
            errors, self._failures = self._failures, []
            raise StartNotAcknowledgedError(
                f"{len(errors)} start commands were rejected, first: {errors[0]}"
            )

    def _on_delivery(self, error: KafkaError | None, _message: object) -> None:
        # Called from poll()/flush() in the caller's thread: record, and let flush() raise.
        if error is not None:
            self._failures.append(error)
