"""The projection rules: how saga stream events fold into instance and timer rows. Pure.

Every field comes from events (timestamps from `recorded_at`, never the clock), so folding the
same events always yields the same rows: that is what lets `rebuild` recreate the tables, and
what the in-memory and PostgreSQL projectors share.

Vocabulary (emitted by the saga decider; stream_id = saga id, stream_type = saga type):
`SagaStarted` {saga_type, definition_version, business_key} starts an instance; `CommandIssued`
{step, attempt, compensation} sets the current step (and status `running` unless it is a
compensation); `CompensationStarted`, `SagaCompleted`, `SagaCompensated`, `SagaFailed`,
`CompensationFailed`, `SagaCancelled` set their status, as does `SagaResolved` {outcome} (a
terminal status), and `StepRetried` {compensation} (back to `running`, or to `compensating`
for a compensation); `SagaParked` parks (remembering the
status it had) and `SagaUnparked` restores it. Any other event only bumps `updated_at`.

Timers: `TimerScheduled` {timer_id, fire_at, purpose, step, attempt} schedules a timer, and so
does any event whose data holds such an object under `timer` (event format 2's
`CommandIssued`); `TimerFired` / `TimerCancelled` {timer_id} close one, and any event with a
`cancels_timers` list of ids cancels those (the row stays, with its status, for forensics).

A projector must never stall on one odd event, so malformed fields fall back (a missing saga
type to the stream type) or make the event a no-op (a timer without a valid `fire_at`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from event_store._model import RecordedEvent

__all__ = ["ProjectionState", "SagaInstance", "Timer", "timer_keys"]

_STATUS_OF_EVENT = {
    "CompensationStarted": "compensating",
    "SagaCompleted": "completed",
    "SagaCompensated": "compensated",
    "SagaFailed": "failed",
    "CompensationFailed": "compensation_failed",
    "SagaCancelled": "cancelled",
}
_TIMER_STATUS_OF_EVENT = {"TimerFired": "fired", "TimerCancelled": "cancelled"}
_TERMINAL = frozenset(_STATUS_OF_EVENT.values()) - {"compensating"}


def _with_status(instance: SagaInstance, status: str) -> SagaInstance:
    """A status change that respects parking: a parked saga keeps working (its steps and
    compensations go on) but shows `parked` until its last dead letter is redriven, so the
    change is remembered for SagaUnparked; reaching a terminal status ends the parking, as
    the saga layer's `SagaInstance.lifecycle` does."""
    if instance.status != "parked":
        return replace(instance, status=status)
    if status in _TERMINAL:
        return replace(instance, status=status, status_before_park=None)
    return replace(instance, status_before_park=status)


@dataclass(frozen=True, slots=True)
class SagaInstance:
    stream_id: str
    saga_type: str
    status: str
    status_before_park: str | None
    current_step: str | None
    definition_version: int | None
    business_key: str | None
    started_at: datetime
    updated_at: datetime
    last_version: int
    last_position: int


@dataclass(frozen=True, slots=True)
class Timer:
    stream_id: str
    timer_id: str
    fire_at: datetime
    purpose: str
    step: str | None
    attempt: int | None
    status: str
    scheduled_at: datetime
    updated_at: datetime
    # The event that last changed this timer, so a replayed event is recognised and skipped.
    last_version: int


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _integer(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _instant(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The vocabulary says UTC; a timestamp without an offset is read as UTC, not local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timer_spec(event: RecordedEvent) -> Mapping[str, Any] | None:
    """The timer `event` schedules: its own fields, or its `timer` object."""
    if event.event_type == "TimerScheduled":
        return event.data
    spec = event.data.get("timer")
    return spec if isinstance(spec, Mapping) else None


def _cancelled_timer_ids(event: RecordedEvent) -> list[str]:
    ids = event.data.get("cancels_timers")
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def timer_keys(event: RecordedEvent) -> list[tuple[str, str]]:
    """(stream_id, timer_id) of every timer `event` schedules or closes."""
    ids = _cancelled_timer_ids(event)
    spec = _timer_spec(event)
    if spec is not None or event.event_type in _TIMER_STATUS_OF_EVENT:
        timer_id = _text(spec if spec is not None else event.data, "timer_id")
        if timer_id is not None:
            ids.append(timer_id)
    return [(event.stream_id, timer_id) for timer_id in ids]


def fold_instance(current: SagaInstance | None, event: RecordedEvent) -> SagaInstance | None:
    if current is not None and event.version <= current.last_version:
        return current
    data = event.data
    if current is None:
        if event.event_type != "SagaStarted":
            return None
        return SagaInstance(
            stream_id=event.stream_id,
            saga_type=_text(data, "saga_type") or event.stream_type,
            status="started",
            status_before_park=None,
            current_step=None,
            definition_version=_integer(data, "definition_version"),
            business_key=_text(data, "business_key"),
            started_at=event.recorded_at,
            updated_at=event.recorded_at,
            last_version=event.version,
            last_position=event.position,
        )
    bumped = replace(
        current,
        updated_at=event.recorded_at,
        last_version=event.version,
        last_position=event.position,
    )
    kind = event.event_type
    if kind == "CommandIssued":
        stepped = replace(bumped, current_step=_text(data, "step") or bumped.current_step)
        if data.get("compensation") is True:
            return stepped
        return _with_status(stepped, "running")
    if kind in _STATUS_OF_EVENT:
        return _with_status(bumped, _STATUS_OF_EVENT[kind])
    if kind == "StepRetried":
        # An operator reopened a failed step (the saga runs again) or a failed compensation.
        return _with_status(bumped, "compensating" if data.get("compensation") else "running")
    if kind == "SagaResolved":
        # An operator closed the saga by hand with the outcome it names.
        outcome = _text(data, "outcome")
        return (
            _with_status(bumped, outcome)
            if outcome is not None and outcome in _TERMINAL
            else bumped
        )
    if kind == "SagaParked":
        if bumped.status == "parked":
            return bumped
        return replace(bumped, status="parked", status_before_park=bumped.status)
    if kind == "SagaUnparked":
        if bumped.status != "parked" or (_integer(data, "still_parked") or 0) > 0:
            return bumped
        restored = bumped.status_before_park or "running"
        return replace(bumped, status=restored, status_before_park=None)
    return bumped


def fold_timer(current: Timer | None, event: RecordedEvent, timer_id: str) -> Timer | None:
    """The row of timer `timer_id` after `event` (one of the keys `timer_keys` gave)."""
    if current is not None and event.version <= current.last_version:
        return current
    data = _timer_spec(event)
    if data is not None and _text(data, "timer_id") == timer_id:
        fire_at = _instant(data, "fire_at")
        if fire_at is None:
            return current
        return Timer(
            stream_id=event.stream_id,
            timer_id=timer_id,
            fire_at=fire_at,
            purpose=_text(data, "purpose") or "",
            step=_text(data, "step"),
            attempt=_integer(data, "attempt"),
            status="scheduled",
            scheduled_at=event.recorded_at,
            updated_at=event.recorded_at,
            last_version=event.version,
        )
    status = _TIMER_STATUS_OF_EVENT.get(event.event_type)
    if timer_id in _cancelled_timer_ids(event):
        status = "cancelled"
    if status is None or current is None:
        return current
    return replace(current, status=status, updated_at=event.recorded_at, last_version=event.version)


@dataclass
class ProjectionState:
    """Rows being folded, and which of them changed (what a projector must write back)."""

    instances: dict[str, SagaInstance] = field(default_factory=dict)
    timers: dict[tuple[str, str], Timer] = field(default_factory=dict)
    changed_instances: set[str] = field(default_factory=set)
    changed_timers: set[tuple[str, str]] = field(default_factory=set)

    def apply(self, event: RecordedEvent) -> None:
        current = self.instances.get(event.stream_id)
        folded = fold_instance(current, event)
        if folded is not None and folded is not current:
            self.instances[event.stream_id] = folded
            self.changed_instances.add(event.stream_id)
        for key in timer_keys(event):
            timer = self.timers.get(key)
            new_timer = fold_timer(timer, event, key[1])
            if new_timer is not None and new_timer is not timer:
                self.timers[key] = new_timer
                self.changed_timers.add(key)

    def apply_all(self, events: Iterable[RecordedEvent]) -> None:
        for event in events:
            self.apply(event)

    def due_timers(self, now: datetime, limit: int) -> list[Timer]:
        due = [t for t in self.timers.values() if t.status == "scheduled" and t.fire_at <= now]
        due.sort(key=lambda t: (t.fire_at, t.stream_id, t.timer_id))
        return due[:limit]
