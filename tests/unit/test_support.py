"""The suite's shared helpers (tests/support) fail the way every test relies on: a wait names
what it awaited and what it saw last; a background thread's exception reaches the test."""

from __future__ import annotations

import itertools
import threading

import pytest

from tests.support import Background, eventually


def test_eventually_returns_the_first_value_that_satisfies_until() -> None:
    counter = itertools.count(1)
    assert eventually(lambda: next(counter), "a count of 3", until=lambda n: n >= 3) == 3


def test_eventually_names_what_it_awaited_and_the_last_value_seen() -> None:
    with pytest.raises(AssertionError, match=r"not within 0\.05s: the answer; last seen: 41$"):
        eventually(lambda: 41, "the answer", until=(42).__eq__, timeout=0.05, interval=0.01)


def test_eventually_renders_the_last_value_with_describe() -> None:
    with pytest.raises(AssertionError, match=r"last seen: 2 rows$"):
        eventually(
            lambda: [1, 2],
            "three rows",
            until=lambda rows: len(rows) == 3,
            timeout=0.02,
            interval=0.01,
            describe=lambda rows: f"{len(rows)} rows",
        )


def test_eventually_fails_at_once_when_check_raises() -> None:
    calls: list[int] = []

    def crashed() -> None:
        calls.append(1)
        raise AssertionError("worker died")

    with pytest.raises(AssertionError, match="worker died"):
        eventually(lambda: False, "never", timeout=60, check=crashed)
    assert calls == [1]


def test_eventually_retries_the_listed_exceptions_and_reports_the_last() -> None:
    attempts = itertools.count()

    def flaky() -> int:
        if next(attempts) < 2:
            raise ConnectionError("not yet")
        return 7

    assert eventually(flaky, "a value", retry_on=(ConnectionError,), interval=0.0) == 7
    with pytest.raises(AssertionError, match="last seen: ConnectionError: down"):
        eventually(
            lambda: (_ for _ in ()).throw(ConnectionError("down")),
            "a value",
            retry_on=(ConnectionError,),
            timeout=0.02,
            interval=0.01,
        )


def test_eventually_does_not_swallow_other_exceptions() -> None:
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: 1 // 0, "a quotient", retry_on=(ConnectionError,))


def test_background_call_gives_its_result_or_raises_its_exception_in_the_test() -> None:
    assert Background.call(lambda: 6 * 7).start().outcome(5) == 42
    failing = Background.call(lambda: 1 // 0, name="divider").start()
    with pytest.raises(ZeroDivisionError):
        failing.outcome(5)


def test_background_runs_until_stopped_and_reports_a_loop_that_died() -> None:
    rounds: list[int] = []

    def loop(stop: threading.Event) -> int:
        while not stop.wait(0.01):
            rounds.append(1)
        return len(rounds)

    running = Background(loop, name="loop").start()
    eventually(lambda: len(rounds), "a few rounds", until=lambda n: n >= 3, interval=0.01)
    assert not running.died()
    assert running.stop(5) >= 3

    def crash(_stop: threading.Event) -> None:
        raise RuntimeError("boom")

    crashed = Background(crash, name="crasher").start()
    assert crashed.join(5)
    assert crashed.died()
    with pytest.raises(RuntimeError, match="boom"):
        crashed.stop(5)


def test_background_outcome_fails_when_the_target_does_not_finish() -> None:
    release = threading.Event()
    stuck = Background.call(lambda: release.wait(30), name="stuck").start()
    with pytest.raises(AssertionError, match=r"stuck did not finish within 0\.05s"):
        stuck.outcome(0.05)
    release.set()
    assert stuck.outcome(5) is True
