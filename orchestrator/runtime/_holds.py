"""Partitions a worker leaves alone because their next message belongs to a saga version it does
not register: the bookkeeping (which partition, from which offset, when to look again), without
Kafka, so that the backoff is tested on its own.

During a rolling deploy a worker that knows only v1 of a saga may own a partition that carries a
v2 saga's messages. It must neither decide them (it cannot) nor dead-letter or park them (they
are healthy): it puts the partition back at that message, pauses it, and looks again after a
backoff that doubles up to a cap. Whoever owns the partition after a rebalance (or this worker
after a redeploy that brings v2) starts from the committed offset, which never passes the held
message, and processes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from orchestrator.runtime._processor import Held

Partition = tuple[str, int]

# The first retry comes soon (the other worker may be seconds from taking the partition over);
# the cap keeps a worker that will never have the version to one fetch and one log line per
# partition every half minute.
FIRST_RETRY_S: Final = 0.5
MAX_RETRY_S: Final = 30.0


@dataclass(slots=True)
class VersionHold:
    partition: Partition
    held: Held
    delay_s: float
    resume_at: float
    # False once resumed to look at the message again; the next batch that delivers from the
    # partition either holds it again (paused, longer wait) or processes it (the hold ends).
    paused: bool = True


class VersionHolds:
    def __init__(
        self,
        *,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._clock = clock
        self._holds: dict[Partition, VersionHold] = {}

    def __len__(self) -> int:
        return len(self._holds)

    def hold(self, partition: Partition, held: Held) -> VersionHold:
        """Hold `partition` at `held`; held again after a retry, the wait doubles (capped)."""
        previous = self._holds.get(partition)
        delay = (
            self._first_retry_s
            if previous is None
            else min(previous.delay_s * 2, self._max_retry_s)
        )
        hold = VersionHold(partition, held, delay, self._clock() + delay)
        self._holds[partition] = hold
        return hold

    def due(self) -> list[VersionHold]:
        """The paused holds whose wait is over, now marked as resumed (to be looked at again)."""
        now = self._clock()
        ready = [h for h in self._holds.values() if h.paused and h.resume_at <= now]
        for hold in ready:
            hold.paused = False
        return ready

    def is_paused(self, partition: Partition) -> bool:
        hold = self._holds.get(partition)
        return hold is not None and hold.paused

    def offset(self, partition: Partition) -> int | None:
        """The first offset of `partition` that must not be stored (None: not held)."""
        hold = self._holds.get(partition)
        return None if hold is None else hold.held.offset

    def passed(self, delivered: Iterable[Partition]) -> list[VersionHold]:
        """End the resumed holds of partitions that delivered messages in a batch that held
        nothing on them: the held message was processed. Returns the holds that ended."""
        cleared = [
            hold
            for partition in delivered
            if (hold := self._holds.get(partition)) is not None and not hold.paused
        ]
        for hold in cleared:
            del self._holds[hold.partition]
        return cleared

    def forget(self, partitions: Iterable[Partition]) -> None:
        """A revoked partition is no longer ours to hold; its next owner starts from the
        committed offset, which is at most the held message."""
        for partition in partitions:
            self._holds.pop(partition, None)
