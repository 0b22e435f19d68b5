"""The demo's bounded waits: transient errors are ridden out, the rest end in one line."""

from __future__ import annotations

import time
from collections.abc import Callable

import click
import pytest
from confluent_kafka import KafkaError, KafkaException

from orchestrator.cli._waits import NotReadyError, wait_until


def _kafka(code: int) -> KafkaException:
    return KafkaException(KafkaError(code))


def _scripted(outcomes: list[BaseException | int]) -> tuple[Callable[[], int], list[int]]:
    """A probe that raises or returns the next outcome on each call; `calls` counts them."""
    calls: list[int] = []

    def probe() -> int:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return probe, calls


def test_rides_out_what_a_broker_starting_for_the_first_time_answers() -> None:
    probe, calls = _scripted(
        [
            TimeoutError(),  # concurrent.futures' future.result(10), the bug this fixes
            _kafka(KafkaError.COORDINATOR_NOT_AVAILABLE),
            _kafka(KafkaError.COORDINATOR_LOAD_IN_PROGRESS),
            _kafka(KafkaError.NOT_COORDINATOR),
            _kafka(KafkaError._TIMED_OUT),
            NotReadyError("group preparing_rebalance"),
            42,
        ]
    )
    assert wait_until("groups", probe, within_s=30, poll_s=0.01, max_backoff_s=0.02) == 42
    assert len(calls) == 7


def test_ends_in_one_line_and_exit_3_when_nothing_answers_in_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    with pytest.raises(click.exceptions.Exit) as raised:
        wait_until(
            "demo: consumer groups",
            _always(_kafka(KafkaError.COORDINATOR_NOT_AVAILABLE)),
            within_s=0.5,
            poll_s=0.01,
            max_backoff_s=0.05,
        )
    assert raised.value.exit_code == 3
    assert time.monotonic() - started < 2
    assert capsys.readouterr().err.splitlines() == [
        "sagactl: demo: consumer groups: not within 0.5s "
        "(COORDINATOR_NOT_AVAILABLE: Broker: Coordinator not available)"
    ]


def test_a_probe_that_is_never_ready_reports_what_it_last_saw(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(click.exceptions.Exit) as raised:
        wait_until("sagas", _always(NotReadyError("3 of 20 sagas ended")), within_s=0.2)
    assert raised.value.exit_code == 3
    assert capsys.readouterr().err == "sagactl: sagas: not within 0.2s (3 of 20 sagas ended)\n"


def test_a_refusal_is_not_retried_and_ends_in_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    probe, calls = _scripted([_kafka(KafkaError.GROUP_AUTHORIZATION_FAILED), 1])
    with pytest.raises(click.exceptions.Exit) as raised:
        wait_until("groups", probe, within_s=30)
    assert raised.value.exit_code == 1
    assert len(calls) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("sagactl: groups: Kafka refused: GROUP_AUTHORIZATION_FAILED")


def test_other_exceptions_pass_through_untouched() -> None:
    probe, calls = _scripted([ValueError("a bug"), 1])
    with pytest.raises(ValueError, match="a bug"):
        wait_until("anything", probe, within_s=30)
    assert len(calls) == 1


def _always(error: BaseException) -> Callable[[], None]:
    def probe() -> None:
        raise error

    return probe
