"""`eventually`: the suite's one deadline loop.

Polling is how a test observes a system that settles asynchronously (a worker's batch, a
projector's poll, the broker's metadata). Written by hand each time, such loops drifted apart:
some reported the last value and some did not, some checked for crashed threads, one counted
polls instead of seconds. Here the loop is written once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T],
    what: str,
    *,
    until: Callable[[T], object] = bool,
    timeout: float = 30.0,
    interval: float = 0.1,
    check: Callable[[], None] | None = None,
    retry_on: tuple[type[Exception], ...] = (),
    describe: Callable[[T], str] = repr,
) -> T:
    """Call `probe` until `until(value)` is true and return that value.

    `what` names what is awaited, for the failure message. `check` runs after every miss and
    may raise at once (a crashed worker thread fails the test now, not after the timeout).
    An exception of a `retry_on` type raised by `probe` counts as a miss, and is reported if it
    is the last thing seen. On timeout: AssertionError naming `what`, the timeout and the last
    value (as `describe` renders it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = describe(value)
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}; last seen: {last}")
        time.sleep(interval)
