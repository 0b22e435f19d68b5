"""Anchors: signed, refused when forged, and the three findings told apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.archive import (
    Anchor,
    AnchorError,
    FindingKind,
    StoredHead,
    StreamHead,
    compare_heads,
    decode_anchor,
    encode_anchor,
)

KEY = Ed25519PrivateKey.generate()
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ANCHOR = Anchor(
    AT,
    42,
    [
        StreamHead("s-1", 3, "a" * 64),
        StreamHead("s-2", 2, "b" * 64),
        StreamHead("s-3", 5, "c" * 64),
    ],
)


def test_an_anchor_round_trips_under_its_key() -> None:
    decoded = decode_anchor(encode_anchor(ANCHOR, KEY), KEY.public_key())
    assert decoded == ANCHOR
    assert decoded.events == 10


def test_an_altered_or_foreign_anchor_is_refused() -> None:
    value = encode_anchor(ANCHOR, KEY)
    with pytest.raises(AnchorError, match="signature does not hold"):
        decode_anchor(value.replace(b'"s-2",2', b'"s-2",1'), KEY.public_key())
    with pytest.raises(AnchorError, match="signature does not hold"):
        decode_anchor(value, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(AnchorError, match="not a signed anchor"):
        decode_anchor(b"junk", KEY.public_key())


def test_a_store_that_only_grew_has_no_finding() -> None:
    stored = [
        StoredHead("s-1", 7, "a" * 64),
        StoredHead("s-2", 2, "b" * 64),
        StoredHead("s-3", 5, "c" * 64),
        StoredHead("s-4", 1, None),  # a stream born after the anchor is not judged
    ]
    assert compare_heads(ANCHOR, stored) == []


def test_rewritten_tail_removed_stream_and_removed_event_are_distinct() -> None:
    stored = [
        StoredHead("s-1", 3, "f" * 64),  # same length, another hash at the anchored version
        StoredHead("s-2", 0, None),  # nothing left
        StoredHead("s-3", 4, None),  # ends before the anchored version 5
    ]
    findings = compare_heads(ANCHOR, stored)
    assert [(f.kind, f.stream_id, f.version) for f in findings] == [
        (FindingKind.REWRITTEN_TAIL, "s-1", 3),
        (FindingKind.REMOVED_STREAM, "s-2", 2),
        (FindingKind.REMOVED_EVENT, "s-3", 5),
    ]
    assert "hashes recomputed" in findings[0].reason
    assert "has none now" in findings[1].reason
    assert "ends at version 4" in findings[2].reason


def test_a_stream_the_store_did_not_answer_for_counts_as_removed() -> None:
    [finding] = compare_heads(Anchor(AT, 1, [StreamHead("gone", 1, "d" * 64)]), [])
    assert finding.kind is FindingKind.REMOVED_STREAM
