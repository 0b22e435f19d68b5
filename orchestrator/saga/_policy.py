"""Retry policy: how many times a step (or its compensation) is attempted, and how long to wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, applied through durable timers.

    Attempt n (n >= 1) that gets no reply within the step timeout is retried after
    ``min(max_backoff, initial_backoff * multiplier ** (n - 1))``, scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` so that many sagas failing together do not retry in lockstep.
    """

    max_attempts: int = 3
    initial_backoff: timedelta = timedelta(seconds=1)
    multiplier: float = 2.0
    max_backoff: timedelta = timedelta(minutes=1)
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < timedelta(0) or self.max_backoff < self.initial_backoff:
            raise ValueError("RetryPolicy needs 0 <= initial_backoff <= max_backoff")
        if self.multiplier < 1.0:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter}")

    def backoff(self, attempt: int, random_unit: float) -> timedelta:
        """Delay before attempt ``attempt + 1``; ``random_unit`` is a draw from [0, 1)."""
        base = self.initial_backoff.total_seconds() * self.multiplier ** (attempt - 1)
        capped = min(base, self.max_backoff.total_seconds())
        factor = 1.0 + self.jitter * (2.0 * random_unit - 1.0)
        # Whole milliseconds: fire_at is stored as ISO-8601 text and must round-trip exactly.
        return timedelta(milliseconds=round(capped * factor * 1000))


NO_RETRY = RetryPolicy(max_attempts=1)
