"""The canonical bytes and hash chain are an on-disk format: these tests pin them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_store._canonical import (
    GENESIS_HASH,
    canonical_event_bytes,
    canonical_json,
    chain_hash,
    format_timestamp,
)

GOLDEN_BYTES = (
    '{"data":{"amount":19.5,"attempt":1,"compensation":false,"note":"café","qty":2,'
    '"step":"reserve_credit"},"event_type":"CommandIssued","metadata":{"correlation_id":"c-1",'
    '"message_id":"m-1"},"recorded_at":"2026-01-31T12:00:00.000001Z","schema_version":1,'
    '"stream_id":"order-42","stream_type":"OrderFulfilment","version":2}'
).encode()
GOLDEN_HASH = "12a70868ae9413e9c343ab85efcb64c91e3d8a70c9ad626b326d75f53dcd457b"


def golden_event_bytes() -> bytes:
    return canonical_event_bytes(
        stream_id="order-42",
        stream_type="OrderFulfilment",
        version=2,
        event_type="CommandIssued",
        schema_version=1,
        data_json=canonical_json(
            {
                "step": "reserve_credit",
                "attempt": 1,
                "compensation": False,
                "amount": 19.5,
                "qty": 2.0,
                "note": "café",
            }
        ),
        metadata_json=canonical_json({"message_id": "m-1", "correlation_id": "c-1"}),
        # A non-UTC offset on purpose: the canonical form is always UTC.
        recorded_at=datetime(2026, 1, 31, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    )


def test_the_canonical_bytes_never_change() -> None:
    assert golden_event_bytes() == GOLDEN_BYTES


def test_the_hash_is_sha256_of_previous_hash_bytes_and_canonical_bytes() -> None:
    assert hashlib.sha256(bytes(32) + GOLDEN_BYTES).hexdigest() == GOLDEN_HASH
    assert chain_hash(GENESIS_HASH, golden_event_bytes()) == GOLDEN_HASH
    following = chain_hash(GOLDEN_HASH, b"next")
    assert following == hashlib.sha256(bytes.fromhex(GOLDEN_HASH) + b"next").hexdigest()


def test_hand_assembled_bytes_equal_the_generic_serialisation() -> None:
    whole = {
        "data": {"b": [1, {"y": None, "x": True}], "a": 'ß\n"q"'},
        "event_type": "Ev\u2028ent",
        "metadata": {"z": 1},
        "recorded_at": "2026-01-31T12:00:00.000000Z",
        "schema_version": 7,
        "stream_id": "s:1",
        "stream_type": "Tÿpe",
        "version": 12,
    }
    assembled = canonical_event_bytes(
        stream_id="s:1",
        stream_type="Tÿpe",
        version=12,
        event_type="Ev\u2028ent",
        schema_version=7,
        data_json=canonical_json(whole["data"]),
        metadata_json=canonical_json(whole["metadata"]),
        recorded_at=datetime(2026, 1, 31, 12, tzinfo=UTC),
    )
    assert assembled == canonical_json(whole).encode()


def test_timestamps_need_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_timestamp(datetime(2026, 1, 1))  # naive on purpose


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_survives_a_json_round_trip(value: Any) -> None:
    # What the store reads back (json.loads of what it wrote) canonicalises to the same text,
    # which is what keeps a chain verifiable after a trip through jsonb.
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


def test_integral_floats_are_written_as_integers() -> None:
    assert canonical_json({"a": 1.0, "b": -0.0, "c": 1e16, "d": 0.5}) == (
        '{"a":1,"b":0,"c":10000000000000000,"d":0.5}'
    )
