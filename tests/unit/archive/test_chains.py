"""The fast chain check (orchestrator.archive._chains) against event_store's own: the same
canonical bytes for any JSON the store can hold, and the same verdict, reason for reason."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from event_store import GENESIS_HASH, RecordedEvent, verify_events
from event_store._canonical import canonical_event_bytes, canonical_json, format_timestamp
from event_store.verify import expected_hash
from orchestrator.archive._chains import (
    ChainState,
    canonical_text,
    check_link,
    event_bytes,
    fast_json,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


def as_jsonb_text(value: Any) -> str:
    """What `data::text` gives back: jsonb's own spacing and key order, not canonical."""
    normal = json.loads(canonical_json(value))
    return json.dumps(_jsonb_order(normal), ensure_ascii=False, separators=(", ", ": "))


def _jsonb_order(value: Any) -> Any:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _jsonb_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
@settings(max_examples=100)
def test_canonical_text_is_canonical_json(value: dict[str, Any]) -> None:
    assert canonical_text(as_jsonb_text(value)) == canonical_json(value)
    assert canonical_text(canonical_json(value)) == canonical_json(value)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": 1} x'])
def test_what_the_chain_cannot_hold_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"JSON|extra data"):
        canonical_text(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 18446744073709551616}',
        '{"n": [-9223372036854775809]}',
        '{"n": 1e-07}',
        '{"a": {"b": 1.5}}',
        r'{"s": "ctl \u0001 del \u007f sep \u2028 quote \" slash \\"}',
        '{"z": 1, "a": {"é": 2, "e": [true, false, null]}}',
    ],
)
def test_both_ways_give_the_canonical_text(text: str) -> None:
    assert canonical_text(text) == canonical_json(json.loads(text))


def test_only_json_without_fractions_or_long_integers_goes_the_fast_way() -> None:
    assert fast_json('{"a": "x", "b": [1, 2]}')
    assert not fast_json('{"a": 1.5}')
    assert not fast_json('{"a": [1e5]}')
    assert not fast_json('{"a": 1234567890123456789}')
    assert not fast_json("12")
    assert not fast_json('{"a":1.5}')
    assert fast_json('{"at": "2026-12-01T09:44:05.845+00:00", "n": 3}')


def test_an_integral_float_is_an_integer_as_in_the_chain() -> None:
    assert canonical_text('{"b": 2.50, "a": 1.0}') == '{"a":1,"b":2.5}'


def test_event_bytes_are_the_stores() -> None:
    at = datetime(2026, 1, 31, 12, 0, 0, 1, tzinfo=UTC)
    data, metadata = {"step": "é", "n": [1, 2.5]}, {"message_id": 'm"1'}
    ours = event_bytes(
        stream_id='o-"1',
        stream_type="t\\x",
        version=3,
        event_type="Step\tDone",
        schema_version=1,
        data_json=canonical_json(data),
        metadata_json=canonical_json(metadata),
        recorded_at=format_timestamp(at),
    )
    theirs = canonical_event_bytes(
        stream_id='o-"1',
        stream_type="t\\x",
        version=3,
        event_type="Step\tDone",
        schema_version=1,
        data_json=canonical_json(data),
        metadata_json=canonical_json(metadata),
        recorded_at=at,
    )
    assert ours == theirs


def sealed(count: int) -> list[RecordedEvent]:
    events, previous = [], GENESIS_HASH
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for version in range(1, count + 1):
        event = RecordedEvent(
            position=10 * version,
            stream_id="s-1",
            stream_type="order",
            version=version,
            event_type="StepSucceeded",
            schema_version=1,
            data={"step": f"step-{version}", "amount": 1.5},
            metadata={"message_id": f"m-{version}"},
            recorded_at=start + timedelta(milliseconds=version),
            hash="",
        )
        event = replace(event, hash=expected_hash(previous, event))
        previous = event.hash
        events.append(event)
    return events


def fast_verdict(events: list[RecordedEvent]) -> tuple[int, str] | None:
    state = ChainState()
    for e in events:
        row = (
            e.position, e.stream_id, e.stream_type, e.version, e.event_type, e.schema_version,
            as_jsonb_text(e.data), as_jsonb_text(e.metadata), format_timestamp(e.recorded_at),
            e.hash,
        )  # fmt: skip
        check_link(state, row)
    found = state.break_
    return None if found is None else (found.version, found.reason)


def store_verdict(events: list[RecordedEvent]) -> tuple[int, str] | None:
    report = verify_events(events)
    return (report.breaks[0].version, report.breaks[0].reason) if report.breaks else None


def tampered() -> dict[str, list[RecordedEvent]]:
    good = sealed(5)
    altered = [*good]
    altered[2] = replace(good[2], data={"step": "step-3", "amount": 2})
    swapped = [*good]
    swapped[1], swapped[2] = (
        replace(good[2], position=good[1].position),
        replace(good[1], position=good[2].position),
    )
    retyped = [*good]
    retyped[3] = replace(good[3], stream_type="other")
    reordered = [*good]
    reordered[3] = replace(good[3], position=good[1].position)
    return {
        "intact": good,
        "altered": altered,
        "removed": [good[0], good[1], *good[3:]],
        "removed first": good[1:],
        "swapped": swapped,
        "retyped": retyped,
        "reordered": reordered,
    }


@pytest.mark.parametrize("case", sorted(tampered()))
def test_the_verdict_and_reason_are_event_stores(case: str) -> None:
    events = tampered()[case]
    assert fast_verdict(events) == store_verdict(events)
    assert (fast_verdict(events) is None) == (case == "intact")
