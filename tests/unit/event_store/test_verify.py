"""verify names the first broken event of a stream, for every kind of tampering."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from event_store import InMemoryEventStore, NewEvent, RecordedEvent, verify_events, verify_stream


@pytest.fixture
def history() -> list[RecordedEvent]:
    store = InMemoryEventStore()
    store.append("s-1", "T", 0, [NewEvent("A", {"n": 1}), NewEvent("B", {"n": 2})])
    store.append("s-1", "T", 2, [NewEvent("C", {"n": 3}), NewEvent("D", {"n": 4})])
    return store.read_stream("s-1")


def test_untouched_history_verifies(history: list[RecordedEvent]) -> None:
    assert verify_stream(history) is None


def test_altered_data_is_named(history: list[RecordedEvent]) -> None:
    history[2] = replace(history[2], data={"n": 300})
    broken = verify_stream(history)
    assert broken is not None
    assert (broken.stream_id, broken.version, broken.position) == ("s-1", 3, history[2].position)
    assert "hash mismatch" in broken.reason


@pytest.mark.parametrize("field", ["event_type", "stream_type", "metadata", "recorded_at"])
def test_every_hashed_field_is_covered(history: list[RecordedEvent], field: str) -> None:
    changed: Any = {
        "event_type": "Z",
        "stream_type": "Other",
        "metadata": {"actor": "mallory"},
        "recorded_at": history[0].recorded_at.replace(year=2001),
    }[field]
    history[0] = replace(history[0], **{field: changed})
    broken = verify_stream(history)
    assert broken is not None
    assert broken.version == 1


def test_a_removed_event_is_named_by_the_one_after_the_gap(history: list[RecordedEvent]) -> None:
    del history[1]
    broken = verify_stream(history)
    assert broken is not None
    assert broken.version == 3
    assert "version 2 is missing" in broken.reason


def test_a_removed_first_event_is_named(history: list[RecordedEvent]) -> None:
    broken = verify_stream(history[1:])
    assert broken is not None
    assert broken.version == 2


def test_swapped_contents_are_named_at_the_first_swapped_version(
    history: list[RecordedEvent],
) -> None:
    second, third = history[1], history[2]
    history[1] = replace(third, version=2, position=second.position)
    history[2] = replace(second, version=3, position=third.position)
    broken = verify_stream(history)
    assert broken is not None
    assert broken.version == 2


def test_swapped_positions_are_named(history: list[RecordedEvent]) -> None:
    history[1], history[2] = (
        replace(history[1], position=history[2].position),
        replace(history[2], position=history[1].position),
    )
    broken = verify_stream(history)
    assert broken is not None
    assert broken.version == 3
    assert "reordered" in broken.reason


def test_verify_events_reports_each_broken_stream_once() -> None:
    store = InMemoryEventStore()
    for stream in ("a", "b", "c"):
        store.append(stream, "T", 0, [NewEvent("A", {}), NewEvent("B", {}), NewEvent("C", {})])
    events = [e for stream in ("a", "b", "c") for e in store.read_stream(stream)]
    events[1] = replace(events[1], data={"x": 1})  # a, version 2
    events[2] = replace(events[2], data={"x": 1})  # a, version 3: not reported again
    events[8] = replace(events[8], hash="0" * 64)  # c, version 3
    report = verify_events(events)
    assert not report.ok
    assert (report.streams_checked, report.events_checked) == (3, 9)
    assert [(b.stream_id, b.version) for b in report.breaks] == [("a", 2), ("c", 3)]
