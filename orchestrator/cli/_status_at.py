"""`saga list --at T`: what every saga's status was at an instant, folded from the log.

Not from `saga_instances`, which holds only today: the events recorded at or before T are read
stream by stream (the streams started by T, in id order, in batches; each batch's events in one
ordered read) and folded by the saga's own typed `evolve` (SagaRegistry.replay), one stream at
a time, so memory holds one batch whatever the size of the store.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

from event_store import RecordedEvent
from event_store.as_of import events_until, streams_started_by
from orchestrator.saga import RegistryError, SagaRegistry
from orchestrator.saga import events as ev

# The status shown for a saga whose type or version is not among SAGA_SAGAS: today's code
# cannot fold it, and guessing from event names would be a second fold.
UNREGISTERED: Final = "unregistered"
# Streams per read: large enough that a round trip is amortised, small enough to hold in memory.
BATCH_STREAMS: Final = 500


@dataclass(frozen=True, slots=True)
class StatusAt:
    saga_id: str
    saga_type: str
    status: str  # SagaInstance.lifecycle at the instant, or UNREGISTERED
    step: str | None  # the step of the last command issued by then
    business_key: str | None
    updated_at: datetime  # when the last event at or before the instant was recorded


def statuses_at(
    conn: psycopg.Connection[Any],
    registry: SagaRegistry,
    at: datetime,
    *,
    after: str = "",
    saga_type: str | None = None,
    updated_since: datetime | None = None,
    updated_until: datetime | None = None,
    first_batch: int = BATCH_STREAMS,
) -> Iterator[StatusAt]:
    """Every saga started at or before `at`, in saga-id order after `after`, as it was at `at`
    (only those whose last event by then is within `updated_since`/`updated_until`: told from
    the recorded events, so a saga they exclude is never folded). The first read takes
    `first_batch` streams (a page's worth), later ones BATCH_STREAMS."""
    batch = first_batch
    while True:
        stream_ids = streams_started_by(conn, at, after=after, stream_type=saga_type, limit=batch)
        if not stream_ids:
            return
        events = events_until(conn, stream_ids, at)
        for _, stream in itertools.groupby(events, key=lambda event: event.stream_id):
            prefix = _prefix(stream)
            last = prefix[-1].recorded_at
            if (updated_since is None or last >= updated_since) and (
                updated_until is None or last <= updated_until
            ):
                yield _fold(registry, prefix)
        if len(stream_ids) < batch:
            return
        after = stream_ids[-1]
        batch = BATCH_STREAMS


def _prefix(stream: Iterator[RecordedEvent]) -> list[RecordedEvent]:
    """The events up to the first missing version: an event recorded after `at` ends what the
    stream was at `at`, even if a later one carries an earlier clock reading."""
    prefix: list[RecordedEvent] = []
    for event in stream:
        if event.version != len(prefix) + 1:
            break
        prefix.append(event)
    return prefix


def _fold(registry: SagaRegistry, recorded: list[RecordedEvent]) -> StatusAt:
    first, last = recorded[0], recorded[-1]
    typed = [ev.event_from_recorded(event) for event in recorded]
    step = next((e.step for e in reversed(typed) if isinstance(e, ev.CommandIssued)), None)
    try:
        instance = registry.replay(typed)
    except RegistryError:
        instance = None
    if instance is None:
        started = typed[0]
        business_key = started.business_key if isinstance(started, ev.SagaStarted) else None
        return StatusAt(
            first.stream_id, first.stream_type, UNREGISTERED, step, business_key, last.recorded_at
        )
    return StatusAt(
        first.stream_id,
        instance.saga_type,
        instance.lifecycle,
        step,
        instance.business_key,
        last.recorded_at,
    )
