"""Recomputing hash chains: the check that stored history is what was appended.

Pure: it judges `RecordedEvent`s, whichever store they came from. Per stream it names the FIRST
broken event (later events of a broken stream prove nothing more) and the reason. It detects an
altered event (content no longer matches its hash), a removed event (a version is missing, or the
next event's chain link no longer matches), and reordered events (their versions or positions
were exchanged). Removing the newest events of a stream leaves a shorter chain that is still
valid; the PostgreSQL store cross-checks stream heads against the projections for that case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from event_store._canonical import GENESIS_HASH, canonical_event_bytes, canonical_json, chain_hash
from event_store._model import RecordedEvent

__all__ = ["ChainBreak", "StreamChecker", "VerifyReport", "verify_events", "verify_stream"]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first event of a stream whose chain does not hold, and why."""

    stream_id: str
    version: int
    position: int
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    streams_checked: int
    events_checked: int
    breaks: tuple[ChainBreak, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.breaks


def expected_hash(previous_hash: str, event: RecordedEvent) -> str:
    canonical = canonical_event_bytes(
        stream_id=event.stream_id,
        stream_type=event.stream_type,
        version=event.version,
        event_type=event.event_type,
        schema_version=event.schema_version,
        data_json=canonical_json(event.data),
        metadata_json=canonical_json(event.metadata),
        recorded_at=event.recorded_at,
    )
    return chain_hash(previous_hash, canonical)


class StreamChecker:
    """Checks one stream's events, fed in version order, and keeps the first break."""

    def __init__(self) -> None:
        self.events_checked = 0
        self.first_break: ChainBreak | None = None
        self._previous: RecordedEvent | None = None

    def feed(self, event: RecordedEvent) -> None:
        self.events_checked += 1
        if self.first_break is not None:
            return
        reason = self._check(event)
        if reason is not None:
            self.first_break = ChainBreak(event.stream_id, event.version, event.position, reason)
        self._previous = event

    def _check(self, event: RecordedEvent) -> str | None:
        previous = self._previous
        wanted_version = 1 if previous is None else previous.version + 1
        if event.version != wanted_version:
            return (
                f"version {wanted_version} is missing (found version {event.version} next): "
                "an event was removed"
            )
        if previous is not None and event.stream_type != previous.stream_type:
            return f"stream type changed from {previous.stream_type!r} to {event.stream_type!r}"
        if previous is not None and event.position <= previous.position:
            return (
                f"position {event.position} is not after version {previous.version}'s position "
                f"{previous.position}: events were reordered"
            )
        previous_hash = GENESIS_HASH if previous is None else previous.hash
        try:
            recomputed = expected_hash(previous_hash, event)
        except (TypeError, ValueError) as exc:
            return f"content cannot be canonicalised ({exc}): it was altered"
        if recomputed != event.hash:
            return (
                "hash mismatch: the event's content, or an event before it, was altered, "
                "removed or reordered"
            )
        return None


def verify_stream(events: Iterable[RecordedEvent]) -> ChainBreak | None:
    """The first break in one stream's events (given in version order), or None."""
    checker = StreamChecker()
    for event in events:
        checker.feed(event)
    return checker.first_break


def verify_events(events: Iterable[RecordedEvent]) -> VerifyReport:
    """Verify many streams; `events` must come grouped by stream, each in version order."""
    streams = 0
    checked = 0
    breaks: list[ChainBreak] = []
    grouped: Iterator[tuple[str, Iterator[RecordedEvent]]] = groupby(
        events, key=lambda event: event.stream_id
    )
    for _, stream_events in grouped:
        streams += 1
        checker = StreamChecker()
        for event in stream_events:
            checker.feed(event)
        checked += checker.events_checked
        if checker.first_break is not None:
            breaks.append(checker.first_break)
    return VerifyReport(streams, checked, tuple(breaks))
