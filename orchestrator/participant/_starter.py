"""How a service starts a saga: produce its start command, keyed and identified so that
starting twice (a retry, a duplicate request) opens one saga, not two."""

from __future__ import annotations

import uuid
from typing import Final

from confluent_kafka import KafkaError, Producer

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.messages import Message
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

    def __init__(self, producer: Producer, codec: Codec) -> None:
        self._producer = producer
        self._codec = codec
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
        self._producer.produce(
            definition.start_topic,
            key=saga_id.encode(),
            value=self._codec.encode(definition.start_topic, message),
            headers=[
                (h.MESSAGE_ID, start_message_id(saga_id)),
                (h.SAGA_ID, saga_id),
                (h.SAGA_TYPE, definition.name),
                (h.CORRELATION_ID, correlation_id or saga_id),
            ],
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
