"""What the worker hands the decider: the message with its routing headers, and the context
(clock, randomness) that a pure decider must not read from the world."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.messages import Message
from orchestrator.saga.events import CURRENT_EVENT_FORMAT, EVENT_FORMATS


@dataclass(frozen=True, slots=True)
class Envelope:
    """An inbound message and its headers (see ``orchestrator.headers``).

    ``step`` and ``attempt`` come from the ``saga_step``/``saga_attempt`` headers that
    participants echo from the command; a reply without them cannot be correlated and is
    ignored.
    """

    message: Message
    message_id: str
    saga_id: str
    step: str | None = None
    attempt: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Clock reading and random source for one decision.

    Build it with :meth:`for_message`: the random source is seeded from the message id, so
    deciding the same message again (after a crash, or in the replay check) draws the same
    jitter and produces identical events. ``event_format`` is the format a saga *started* by
    this decision is written in; the replay check sets it from the recorded history, every
    later decision follows the instance's own.
    """

    now: datetime
    random: random.Random
    event_format: int = CURRENT_EVENT_FORMAT

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("DecisionContext.now must be timezone-aware (UTC)")
        if self.event_format not in EVENT_FORMATS:
            raise ValueError(f"unknown event format {self.event_format}")

    @classmethod
    def for_message(
        cls, now: datetime, message_id: str, *, event_format: int = CURRENT_EVENT_FORMAT
    ) -> DecisionContext:
        if now.tzinfo is None:
            raise ValueError("DecisionContext.now must be timezone-aware (UTC)")
        # Random(str) hashes the string with SHA-512: stable across processes and Python runs.
        return cls(
            now=now.astimezone(UTC), random=random.Random(message_id), event_format=event_format
        )
