"""`Background`: the suite's one way to run something in a thread.

A thread's exception is invisible to pytest unless someone hands it over. Here the target's
result or exception is kept, and `outcome()` and `stop()` give it to the test: a crashed
worker or a failed concurrent append fails the test that started it, with its own traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """Runs `target(stop_event)` in a daemon thread.

    A long-running target (a worker, a participant, a watcher) loops until its stop event is
    set; a one-shot call (see `call`) ignores it. Either way `outcome()` waits for the target
    to return and gives back its result, or raises what it raised."""

    def __init__(self, target: Callable[[threading.Event], T], *, name: str | None = None) -> None:
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._result: tuple[T] | None = None  # a 1-tuple, so that a result of None is a result
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @classmethod
    def call(cls, function: Callable[[], T], *, name: str | None = None) -> Background[T]:
        """A one-shot call in a thread, e.g. an append that will block at COMMIT."""
        return cls(lambda _stop: function(), name=name)

    @property
    def name(self) -> str:
        return self._thread.name

    def _run(self) -> None:
        try:
            self._result = (self._target(self.stop_event),)
        except BaseException as exc:  # noqa: BLE001 - handed to the test by outcome()/stop()
            self.error = exc

    def start(self) -> Self:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def died(self) -> bool:
        """Ended although nobody asked it to stop (a loop that should run until stopped)."""
        return not self._thread.is_alive() and not self.stop_event.is_set()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; whether the target has returned."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def outcome(self, timeout: float = 30.0) -> T:
        """The target's result, once it returned; its exception re-raised if it raised."""
        assert self.join(timeout), f"{self.name} did not finish within {timeout:g}s"
        if self.error is not None:
            raise self.error
        assert self._result is not None, f"{self.name} was never started"
        return self._result[0]

    def stop(self, timeout: float = 40.0) -> T:
        """Ask the target to stop, then its outcome."""
        self.stop_event.set()
        return self.outcome(timeout)
