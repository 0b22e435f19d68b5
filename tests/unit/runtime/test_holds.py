"""The bookkeeping of partitions held for a missing saga version: backoff, retry, release."""

from __future__ import annotations

from orchestrator.runtime._holds import VersionHolds
from orchestrator.runtime._processor import Held

PARTITION = ("order.replies", 3)
HELD = Held(offset=41, saga_type="order_fulfilment", version=2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_wait_doubles_on_each_hold_up_to_the_cap() -> None:
    clock = Clock()
    holds = VersionHolds(first_retry_s=0.5, max_retry_s=4.0, clock=clock)
    delays = []
    for _ in range(6):
        delays.append(holds.hold(PARTITION, HELD).delay_s)
        clock.now += delays[-1]
        assert [h.partition for h in holds.due()] == [PARTITION]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_hold_is_due_only_once_its_wait_is_over() -> None:
    clock = Clock()
    holds = VersionHolds(first_retry_s=0.5, clock=clock)
    holds.hold(PARTITION, HELD)
    assert holds.is_paused(PARTITION)
    clock.now += 0.4
    assert holds.due() == []
    clock.now += 0.1
    assert len(holds.due()) == 1
    assert not holds.is_paused(PARTITION)
    assert holds.offset(PARTITION) == 41  # still never stored past while resumed


def test_a_resumed_hold_ends_when_its_partition_delivers_without_holding() -> None:
    clock = Clock()
    holds = VersionHolds(clock=clock)
    holds.hold(PARTITION, HELD)
    assert holds.passed([PARTITION]) == []  # paused: nothing was delivered from it
    clock.now += 1
    holds.due()
    [ended] = holds.passed([PARTITION, ("order.start", 0)])
    assert ended.partition == PARTITION
    assert len(holds) == 0
    assert holds.offset(PARTITION) is None


def test_a_revoked_partition_is_no_longer_held() -> None:
    holds = VersionHolds()
    holds.hold(PARTITION, HELD)
    holds.forget([PARTITION])
    assert len(holds) == 0
    # Held again later (reassigned, same message): the wait starts over.
    assert holds.hold(PARTITION, HELD).delay_s == 0.5
