"""The replay check over tests/histories/*.jsonl, and that it catches an altered saga."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

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

HISTORIES = Path(__file__).parents[2] / "histories"
PATHS = sorted(HISTORIES.glob("*.jsonl"))


def altered(**step_changes: object) -> type[OrderFulfilment]:
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
    registry = SagaRegistry([OrderFulfilment, TripBooking])
    (report,) = check_histories(registry, [path])
    assert report.ok, str(report)
    assert report.decisions > 3


def test_both_event_formats_are_covered_by_recorded_histories() -> None:
    starts = [load_history(p)[0] for p in PATHS]
    assert all(isinstance(s, events.SagaStarted) for s in starts)
    assert {s.event_format for s in starts if isinstance(s, events.SagaStarted)} == set(
        events.EVENT_FORMATS
    )


@pytest.mark.parametrize(
    ("history_name", "changes", "diverging_event"),
    [
        ("order_fulfilment_v1_compensated", {"topic": "credit.v2.commands"}, "CommandIssued"),
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
