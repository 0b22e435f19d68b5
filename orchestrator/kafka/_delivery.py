"""Acknowledged publication: what every producer of the orchestrator (outbox relay, timer poller,
participant replies, operator commands) waits for before it moves anything on."""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer


class PublishError(Exception):
    """Kafka did not acknowledge every message produced; whatever depends on them (a
    checkpoint, an offset) must not move."""


class DeliveryTracker:
    """The `on_delivery` callback of a run of `produce` calls, and the check after its flush."""

    def __init__(self) -> None:
        self.failures: list[KafkaError] = []

    def __call__(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self.failures.append(error)

    def raise_if_failed(self, producer: Producer, timeout_s: float) -> None:
        remaining = producer.flush(timeout_s)
        failures, self.failures = self.failures, []
        if remaining or failures:
            raise PublishError(
                f"{remaining} messages unacknowledged, {len(failures)} rejected"
                + (f" (first: {failures[0]})" if failures else "")
            )
