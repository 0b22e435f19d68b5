"""The replay check over tests/histories/*.jsonl, and that it catches an altered saga."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.saga import (
    SagaRegistry,
    check_histories,
    check_history,
    dump_history,
    events,
    load_history,
)
from sagas.order_fulfilment import OrderFulfilment, OrderState
from sagas.order_messages import CreditReserved
from sagas.trip_booking import TripBooking
from tests.histories import record
from tests.histories.sagas import ConditionalOrder, RejectableRelease

HISTORIES = Path(__file__).parents[2] / "histories"
PATHS = sorted(HISTORIES.glob("*.jsonl"))


def altered(**step_changes: Any) -> type[OrderFulfilment]:
    """Order fulfilment v1 with its first step changed, but no version bump."""

    class Altered(OrderFulfilment):
        version = 1
        steps = (replace(OrderFulfilment.steps[0], **step_changes), *OrderFulfilment.steps[1:])

    return Altered


def test_there_are_recorded_histories_of_both_example_sagas() -> None:
    names = {p.name for p in PATHS}
    assert any(n.startswith("order_fulfilment_v1") for n in names)
    assert any(n.startswith("trip_booking_v1") for n in names)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_recorded_history_replays_without_divergence(path: Path) -> None:
    # These start with the order saga's PlaceOrder: each needs a registry of its own.
    own = [s for s in (RejectableRelease, ConditionalOrder) if path.stem.startswith(s.name)]
    registry = SagaRegistry(own or [OrderFulfilment, TripBooking])
    (report,) = check_histories(registry, [path])
    assert report.ok, str(report)
    assert report.decisions > 3


def test_every_event_format_is_covered_by_recorded_histories() -> None:
    starts = [load_history(p)[0] for p in PATHS]
    assert all(isinstance(s, events.SagaStarted) for s in starts)
    assert {s.event_format for s in starts if isinstance(s, events.SagaStarted)} == set(
        events.EVENT_FORMATS
    )


def test_formats_1_and_2_are_still_decided_byte_for_byte_as_recorded(tmp_path: Path) -> None:
    # The recorder drives today's decider in the format each file was written in: formats 1
    # and 2 must come out exactly as the releases before format 3 wrote them (no step_key).
    older = [n for n in record.HISTORIES if not n.endswith("_format3")]
    assert len(older) == 2 * len(record.SCENARIOS)
    for name in older:
        copy = tmp_path / f"{name}.jsonl"
        dump_history(record.HISTORIES[name](), copy)
        assert copy.read_bytes() == (HISTORIES / f"{name}.jsonl").read_bytes(), name


def test_a_format_2_saga_retried_by_the_operator_writes_no_step_key() -> None:
    # A history of the release before format 3 with one operator retry (its events have no
    # step_key) must replay: the decider may not decide one for a format-2 instance.
    history = load_history(HISTORIES / "order_fulfilment_v1_retried_after_timeouts_format3.jsonl")
    start = history[0]
    assert isinstance(start, events.SagaStarted)
    previous_release = [
        start.model_copy(update={"event_format": events.EVENT_FORMAT_INLINE_TIMERS}),
        *(
            e.model_copy(update={"step_key": None}) if isinstance(e, events.CommandIssued) else e
            for e in history[1:]
        ),
    ]
    assert any(isinstance(e, events.StepRetried) for e in previous_release)
    report = check_history(SagaRegistry([OrderFulfilment]), previous_release, "format 2")
    assert report.ok, str(report)


@pytest.mark.parametrize(
    ("history_name", "changes", "diverging_event"),
    [
        ("order_fulfilment_v1_compensated", {"to": "credit.v2"}, "CommandIssued"),
        ("order_fulfilment_v1_compensated", {"timeout": timedelta(seconds=45)}, "TimerScheduled"),
        (
            "order_fulfilment_v1_compensated",
            {"on_success": lambda s, r: s.model_copy(update={"credit_reservation_id": "x"})},
            "CommandIssued",
        ),
        # Format 2 carries the timeout inside the command's event.
        (
            "order_fulfilment_v1_compensated_format2",
            {"timeout": timedelta(seconds=45)},
            "CommandIssued",
        ),
    ],
    ids=["topic", "timeout", "hook", "timeout-format2"],
)
def test_a_deliberately_altered_saga_fails_the_check(
    history_name: str, changes: dict[str, object], diverging_event: str
) -> None:
    registry = SagaRegistry([altered(**changes), TripBooking])
    history = load_history(HISTORIES / f"{history_name}.jsonl")
    report = check_history(registry, history, "compensated")
    assert not report.ok
    divergence = report.divergence
    assert divergence is not None
    recorded = divergence.expected
    assert recorded is not None
    assert recorded.event_type == diverging_event
    assert "DIVERGES" in str(report)
    assert "recorded:" in str(report)


def test_a_hook_that_raises_is_reported_not_crashed() -> None:
    def broken(state: OrderState, reply: CreditReserved) -> OrderState:
        raise RuntimeError("boom")

    registry = SagaRegistry([altered(on_success=broken)])
    report = check_history(
        registry, load_history(HISTORIES / "order_fulfilment_v1_completed.jsonl")
    )
    assert report.divergence is not None
    assert "RuntimeError: boom" in report.divergence.error


def test_a_history_with_an_extra_event_diverges() -> None:
    history = load_history(HISTORIES / "order_fulfilment_v1_completed.jsonl")
    history.insert(2, events.TimerCancelled(timer_id="forged"))
    report = check_history(SagaRegistry([OrderFulfilment]), history)
    assert report.divergence is not None
    assert report.divergence.position == 2


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_histories_round_trip_through_jsonl(path: Path, tmp_path: Path) -> None:
    history = load_history(path)
    copy = tmp_path / "copy.jsonl"
    dump_history(history, copy)
    assert load_history(copy) == history
    # Byte for byte, format 1 included: the files without a suffix were written before event
    # formats existed, and a format-1 saga must still be written exactly so, for the workers
    # of that time to read it during a rolling upgrade.
    assert copy.read_text() == path.read_text()


def test_a_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_type": "SagaCompensated", "data": {}}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        load_history(bad)
