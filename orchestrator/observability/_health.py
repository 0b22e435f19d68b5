"""Liveness and readiness state, written by the worker thread and read by the HTTP thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Liveness:
    alive: bool
    seconds_since_beat: float
    threshold_seconds: float


@dataclass(frozen=True)
class Readiness:
    ready: bool
    missing: tuple[str, ...]  # among "kafka", "postgres", "partitions"


class HealthState:
    """What the probes report.

    Liveness: the worker loop calls `beat()` every iteration (a poll returning nothing counts);
    a beat older than `liveness_threshold_seconds` means the loop is wedged and Kubernetes
    should restart the pod. The threshold must exceed the longest legitimate pause between
    beats: a batch at SAGA_BATCH_MAX_MESSAGES plus the worst dependency retry.

    Readiness: Kafka and Postgres reachable and at least one partition assigned. A worker with
    no partitions (more replicas than partitions) does no work and reports so.

    A lock guards the fields because the HTTP handler runs in other threads; the critical
    sections are a few assignments, far below the worker's per-batch cost.
    """

    def __init__(
        self,
        *,
        liveness_threshold_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if liveness_threshold_seconds <= 0:
            raise ValueError("liveness_threshold_seconds must be positive")
        self._threshold = liveness_threshold_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # Start counts as a beat: the pod gets one threshold of grace before its first loop.
        self._last_beat = clock()
        self._kafka_ok = False
        self._postgres_ok = False
        self._assigned = 0

    def beat(self) -> None:
        with self._lock:
            self._last_beat = self._clock()

    def set_kafka(self, reachable: bool) -> None:
        with self._lock:
            self._kafka_ok = reachable

    def set_postgres(self, reachable: bool) -> None:
        with self._lock:
            self._postgres_ok = reachable

    def set_assigned_partitions(self, count: int) -> None:
        """Call from the consumer's on_assign/on_revoke/on_lost callbacks with the new total."""
        if count < 0:
            raise ValueError("partition count cannot be negative")
        with self._lock:
            self._assigned = count

    def liveness(self) -> Liveness:
        with self._lock:
            since = self._clock() - self._last_beat
        return Liveness(
            alive=since <= self._threshold,
            seconds_since_beat=since,
            threshold_seconds=self._threshold,
        )

    def readiness(self) -> Readiness:
        with self._lock:
            checks = (
                ("kafka", self._kafka_ok),
                ("postgres", self._postgres_ok),
                ("partitions", self._assigned > 0),
            )
        missing = tuple(name for name, ok in checks if not ok)
        return Readiness(ready=not missing, missing=missing)
