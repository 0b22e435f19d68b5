"""A saga's history as a timeline: one entry per event, with what an SRE looks for in it.

Entries are built from the typed events (``orchestrator.saga.events``), so a field read here
is a field the event class declares; the recorded event adds what only the store knows (global
position, recording time, the trace context in the metadata).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from event_store import RecordedEvent
from orchestrator.forensics._history import History
from orchestrator.saga import events as ev

# The columns of a timeline row, in the order every rendering shows them (`saga show`'s table
# and JSON; the HTML page adds the participant lane before the detail).
TIMELINE_COLUMNS: Final = (
    "version",
    "position",
    "recorded_at",
    "event",
    "step",
    "attempt",
    "message_type",
    "message_id",
    "trace_id",
    "actor",
    "detail",
)


class Kind(StrEnum):
    """What an event means for the saga, as the renderers colour it."""

    START = "start"
    COMMAND = "command"  # a forward command sent to a participant
    SUCCESS = "success"
    FAILURE = "failure"
    COMPENSATION = "compensation"  # compensation planned, sent, answered or finished
    DEAD_LETTER = "dead_letter"  # a message of the saga went to a DLT (parked), or came back
    OPERATOR = "operator"
    TIMER = "timer"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    position: int  # global position in the event store
    version: int  # position in the saga's own stream (what `state` and `diff` take)
    recorded_at: datetime
    event: str
    kind: Kind
    step: str | None
    attempt: int | None
    message_type: str | None  # Avro full name of the command sent or the message received
    message_id: str | None  # the command's id for CommandIssued, else the message decided on
    trace_id: str | None  # from the W3C traceparent the worker recorded in the metadata
    actor: str | None  # who, for operator actions
    lane: str | None  # the participant (command topic) of the step the event is about
    # "out": a command sent to `lane`; "in": `lane`'s reply; None: a fact of the orchestrator
    arrow: str | None
    detail: str

    @property
    def short_type(self) -> str | None:
        return None if self.message_type is None else self.message_type.rsplit(".", 1)[-1]

    def as_row(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "version": self.version,
            "recorded_at": self.recorded_at.isoformat(),
            "event": self.event,
            "kind": self.kind.value,
            "step": self.step,
            "attempt": self.attempt,
            "message_type": self.message_type,
            "message_id": self.message_id,
            "trace_id": self.trace_id,
            "actor": self.actor,
            "participant": self.lane,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    saga_id: str
    saga_type: str
    entries: tuple[TimelineEntry, ...]
    # (first, last) entry indexes of each compensation phase: from CompensationStarted to the
    # event that ends it (compensated, compensation failed, resolved...) or the stream's end.
    compensation_phases: tuple[tuple[int, int], ...] = ()

    @property
    def lanes(self) -> tuple[str, ...]:
        """Participants in the order the saga first talked to them."""
        return tuple(dict.fromkeys(e.lane for e in self.entries if e.lane is not None))

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.step for e in self.entries if e.step is not None))


def build_timeline(history: History) -> Timeline:
    """The timeline of one saga's stream (in version order, starting with SagaStarted)."""
    recorded, typed = history.recorded, history.events
    if not typed or not isinstance(typed[0], ev.SagaStarted):
        raise ValueError("a saga history must start with SagaStarted")
    # A reply goes back along the lane its command went out on; a compensation may use a
    # topic of its own, hence the key includes the direction.
    lane_of: dict[tuple[str, bool], str] = {}
    entries = []
    phases: list[tuple[int, int]] = []
    phase_start: int | None = None
    for index, (raw, event) in enumerate(zip(recorded, typed, strict=True)):
        if isinstance(event, ev.CommandIssued):
            lane_of[(event.step, event.compensation)] = event.topic
        entries.append(_entry(raw, event, lane_of))
        if isinstance(event, ev.CompensationStarted) and phase_start is None:
            phase_start = index
        elif isinstance(event, _PHASE_ENDS) and phase_start is not None:
            phases.append((phase_start, index))
            phase_start = None
    if phase_start is not None:
        phases.append((phase_start, len(entries) - 1))
    return Timeline(recorded[0].stream_id, typed[0].saga_type, tuple(entries), tuple(phases))


# Events after which a compensation phase is over: done, or waiting for an operator.
_PHASE_ENDS = (
    ev.SagaCompensated,
    ev.CompensationFailed,
    ev.SagaCancelled,
    ev.SagaResolved,
    ev.SagaFailed,
)


def _entry(
    raw: RecordedEvent, event: ev.SagaEvent, lane_of: dict[tuple[str, bool], str]
) -> TimelineEntry:
    # A pydantic model keeps its fields in its __dict__: reading them there, absent ones as
    # None, avoids getattr's default going through pydantic's __getattr__ and an exception
    # for every absent field (most of the cost of a thousand-event timeline).
    fields: dict[str, Any] = vars(event)
    received = fields.get("received")
    inbound = received if isinstance(received, ev.Received) else None
    step: str | None = fields.get("step")
    attempt: int | None = fields.get("attempt")
    if inbound is not None:
        step = step or inbound.step
        attempt = attempt if attempt is not None else inbound.attempt
    message_type = inbound.message_type if inbound is not None else None
    message_id = inbound.message_id if inbound is not None else _causation(raw)
    # Saga-level facts (SagaFailed, an operator's action) stay on the orchestrator's lane
    # even when they name a step.
    about_step = step is not None and not isinstance(event, (ev.SagaFailed, ev.OperatorAction))
    lane = lane_of.get((step, _about_compensation(event))) if about_step and step else None
    arrow: str | None = None
    if isinstance(event, ev.CommandIssued):
        message_type, message_id, lane, arrow = (
            event.message_type,
            event.message_id,
            event.topic,
            "out",
        )
    elif lane is not None and inbound is not None and _is_reply(event):
        arrow = "in"
    return TimelineEntry(
        position=raw.position,
        version=raw.version,
        recorded_at=raw.recorded_at,
        event=event.event_type,
        kind=_kind_of(event),
        step=step,
        attempt=attempt,
        message_type=message_type,
        message_id=message_id,
        trace_id=_trace_id(raw),
        actor=_actor(event, fields.get("actor"), inbound),
        lane=lane,
        arrow=arrow,
        detail=_detail(event, fields.get("reason")),
    )


def _is_reply(event: ev.SagaEvent) -> bool:
    return isinstance(
        event,
        ev.StepSucceeded | ev.StepFailed | ev.StepCompensated | ev.CompensationRejected,
    ) or (isinstance(event, ev.ReplyIgnored) and event.received.step is not None)


def _about_compensation(event: ev.SagaEvent) -> bool:
    if isinstance(event, ev.StepTimedOut):
        return event.compensation
    return isinstance(event, ev.StepCompensated | ev.CompensationRejected | ev.CompensationFailed)


def _kind_of(event: ev.SagaEvent) -> Kind:
    """``_kind``, cached per event class where the class alone decides it."""
    kind = _KIND_BY_TYPE.get(type(event))
    if kind is None:
        kind = _kind(event)
        if not isinstance(event, ev.CommandIssued):  # forward or compensation: per event
            _KIND_BY_TYPE[type(event)] = kind
    return kind


_KIND_BY_TYPE: dict[type[ev.SagaEvent], Kind] = {}


def _kind(event: ev.SagaEvent) -> Kind:
    match event:
        case ev.SagaStarted():
            return Kind.START
        case ev.CommandIssued(compensation=True):
            return Kind.COMPENSATION
        case ev.CommandIssued():
            return Kind.COMMAND
        case ev.StepSucceeded() | ev.SagaCompleted():
            return Kind.SUCCESS
        case ev.CompensationStarted() | ev.StepCompensated() | ev.SagaCompensated():
            return Kind.COMPENSATION
        case (
            ev.StepFailed()
            | ev.StepTimedOut()
            | ev.StepAbandoned()
            | ev.CompensationRejected()
            | ev.CompensationFailed()
            | ev.SagaFailed()
        ):
            return Kind.FAILURE
        case ev.SagaParked() | ev.SagaUnparked():
            return Kind.DEAD_LETTER
        case ev.OperatorAction() | ev.StepRetried() | ev.SagaCancelled() | ev.SagaResolved():
            return Kind.OPERATOR
        case ev.TimerScheduled() | ev.TimerFired() | ev.TimerCancelled():
            return Kind.TIMER
        case _:
            return Kind.IGNORED


def _actor(event: ev.SagaEvent, actor: Any, inbound: ev.Received | None) -> str | None:
    if isinstance(actor, str):
        return actor
    # A redrive is recorded as SagaUnparked; who redrove it is in the control message.
    if isinstance(event, ev.SagaUnparked) and inbound is not None:
        value = inbound.payload.get("actor")
        return value if isinstance(value, str) else None
    return None


def _detail(event: ev.SagaEvent, reason: Any) -> str:
    match event:
        case ev.OperatorAction():
            verdict = "accepted" if event.accepted else f"refused ({event.detail})"
            target = f" {event.step}" if event.step else ""
            return f"{event.action}{target} {verdict}: {event.reason}"
        case ev.CompensationStarted():
            return f"{event.reason}: compensate {', '.join(event.plan) or 'nothing'}"
        case ev.SagaParked():
            return f"dead letter {event.topic}/{event.partition}@{event.offset}: {event.reason}"
        case ev.SagaUnparked():
            return f"redriven {event.topic}/{event.partition}@{event.offset}"
        case ev.SagaResolved():
            return f"resolved as {event.outcome}: {event.reason}"
        case ev.CommandIssued(timer=ev.Timer() as timer):
            return f"to {event.topic}, timeout at {timer.fire_at}"
        case ev.CommandIssued():
            return f"to {event.topic}"
        case ev.TimerScheduled():
            return f"{event.purpose} at {event.fire_at}"
        case _:
            return reason if isinstance(reason, str) else ""


def _causation(raw: RecordedEvent) -> str | None:
    value = raw.metadata.get("causation_id") or raw.message_id
    return value if isinstance(value, str) else None


def _trace_id(raw: RecordedEvent) -> str | None:
    traceparent = raw.metadata.get("traceparent")
    return _trace_of(traceparent) if isinstance(traceparent, str) else None


@functools.lru_cache(maxsize=256)
def _trace_of(traceparent: str) -> str | None:
    """The trace id field of a W3C traceparent (``00-<trace id>-<span id>-<flags>``); a
    saga's events share a handful of them, so each is split once."""
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
