"""The events a saga instance's stream is made of (stream id = saga id, stream type = saga name).

Names and fields are read by the event store's projections and by ``sagactl``: add fields with
defaults, never rename or remove one. Every event that a decision opens with records the
message that caused it (``received``), so a history holds its own inputs and can be re-run
through the saga classes by the replay check.

Event formats. ``SagaStarted.event_format`` fixes, for the life of an instance, how its
decisions are written down, so that histories recorded by an older worker still replay to the
very same events:

- format 1: every attempt's timeout is a ``TimerScheduled`` after its ``CommandIssued``, and a
  ``TimerCancelled`` follows the reply (or abandonment) that ends the attempt;
- format 2: the timeout travels inside the ``CommandIssued`` (``timer``) and the ending event
  lists the timers it closes (``cancels_timers``). A three-step saga is written in 8 events
  instead of 14, with the same information. Retry back-offs, operator resolutions and firings
  still use the standalone timer events;
- format 3 (current): format 2, and every ``CommandIssued`` carries the ``step_key`` the
  participant deduplicates on (see ``saga._ids.step_key_for``): the event says what the relay
  sends, so neither the relay nor a reader has to derive it. Formats 1 and 2 never write one
  (workers of the release before format 3 refuse the unknown field), and their commands are
  deduplicated per attempt, on the message id (see ``CommandIssued.dedupe_key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from event_store import NewEvent, RecordedEvent

_BY_TYPE: dict[str, type[SagaEvent]] = {}


class Received(BaseModel):
    """The inbound message a decision handled, as the decider saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    message_type: str  # Avro full name
    payload: dict[str, Any]
    step: str | None = None
    attempt: int | None = None
    at: str  # the decision's clock reading, ISO-8601 UTC


class SagaEvent(BaseModel):
    """Base of every saga event; ``event_type`` is the class name unless given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.event_type = cls.__name__
        _BY_TYPE[cls.__name__] = cls

    @property
    def inbound(self) -> Received | None:
        """The message this event records having received, if it opens a decision."""
        value = getattr(self, "received", None)
        return value if isinstance(value, Received) else None

    @property
    def closed_timers(self) -> list[str]:
        """Ids of the timers this event cancels on its own (format 2), besides its main fact."""
        value = getattr(self, "cancels_timers", None)
        return value if isinstance(value, list) else []

    def to_new_event(self, metadata: Mapping[str, Any] | None = None) -> NewEvent:
        data = self.model_dump(mode="json")
        # Fields added after format 1 are written only when they carry something, so an
        # event that needs none of them is byte for byte what workers that predate them wrote,
        # and read (they refuse unknown fields): that is what makes a rolling upgrade possible.
        for name, absent_value in _OPTIONAL_FIELDS.items():
            if name in data and data[name] == absent_value:
                del data[name]
        return NewEvent(
            event_type=self.event_type,
            data=data,
            schema_version=self.schema_version,
            metadata=dict(metadata or {}),
        )


def event_from_data(event_type: str, data: Mapping[str, Any], schema_version: int = 1) -> SagaEvent:
    try:
        cls = _BY_TYPE[event_type]
    except KeyError:
        raise ValueError(f"unknown saga event type {event_type!r}") from None
    if schema_version != cls.schema_version:
        # No upcasters exist yet; when a version 2 appears, its upcaster goes here.
        raise ValueError(
            f"{event_type}: schema version {schema_version} is not supported "
            f"(current is {cls.schema_version})"
        )
    return cls.model_validate(data)


def event_from_recorded(recorded: RecordedEvent) -> SagaEvent:
    return event_from_data(recorded.event_type, recorded.data, recorded.schema_version)


# Fields added after format 1, with the value that means "absent" (left out when written):
# event format 2's, and format 3's CommandIssued.step_key.
_OPTIONAL_FIELDS: dict[str, Any] = {
    "event_format": 1,
    "timer": None,
    "cancels_timers": [],
    "step_key": None,
}


def command_dedupe_key(step_key: str | None, message_id: str) -> str:
    """The saga_step_key header of a command, from its CommandIssued's fields: the one place
    that decides it (the relay and the test kit both call it).

    Format 3 writes the step key. A format-1 or format-2 instance has none, and its commands are
    deduplicated on their message id, per attempt, exactly as by the release before format 3:
    the sagas in flight during an upgrade keep the behaviour they started with, and an inbox
    row that release wrote (keyed by message id) still answers a re-published command.
    """
    return step_key or message_id


# The format new instances are written in (see the module docstring).
EVENT_FORMAT_EXPLICIT_TIMERS = 1
EVENT_FORMAT_INLINE_TIMERS = 2
EVENT_FORMAT_STEP_KEYS = 3
CURRENT_EVENT_FORMAT = EVENT_FORMAT_STEP_KEYS
EVENT_FORMATS = frozenset(
    {EVENT_FORMAT_EXPLICIT_TIMERS, EVENT_FORMAT_INLINE_TIMERS, EVENT_FORMAT_STEP_KEYS}
)


class Timer(BaseModel):
    """A durable timer: ``TimerScheduled``'s fields, and ``CommandIssued.timer`` in format 2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timer_id: str
    fire_at: str  # ISO-8601 UTC
    purpose: str  # step_timeout, step_retry, compensation_timeout, compensation_retry
    step: str | None
    attempt: int | None


# --- lifecycle -------------------------------------------------------------------------------


class SagaStarted(SagaEvent):
    saga_type: str
    definition_version: int
    business_key: str
    state: dict[str, Any]  # initial state
    received: Received  # the start command
    # Absent from histories written before formats existed: those are format 1.
    event_format: int = EVENT_FORMAT_EXPLICIT_TIMERS


class SagaCompleted(SagaEvent):
    state: dict[str, Any]  # final state


class CompensationStarted(SagaEvent):
    reason: str  # "failed" or "cancelled"
    failed_step: str | None
    plan: list[str]  # steps to compensate, in the order they will be compensated


class SagaCompensated(SagaEvent):
    pass


class SagaFailed(SagaEvent):
    """A step failed and nothing had to be compensated."""

    step: str
    reason: str


class CompensationFailed(SagaEvent):
    """A compensation exhausted its retries: the saga needs a human. Alert on this event."""

    step: str
    attempt: int
    reason: str


class SagaCancelled(SagaEvent):
    actor: str
    reason: str


class SagaResolved(SagaEvent):
    outcome: str  # the status the operator closed the saga with
    actor: str
    reason: str


class SagaParked(SagaEvent):
    topic: str
    partition: int
    offset: int
    reason: str
    received: Received


class SagaUnparked(SagaEvent):
    topic: str
    partition: int
    offset: int
    still_parked: int  # dead letters of this saga not yet redriven
    received: Received


# --- steps -----------------------------------------------------------------------------------


class CommandIssued(SagaEvent):
    """The worker publishes exactly this after the event commits (outbox)."""

    step: str
    attempt: int
    compensation: bool
    topic: str
    key: str
    message_type: str
    message_id: str
    payload: dict[str, Any]
    reply_topic: str
    timer: Timer | None = None  # format 2: the attempt's timeout, scheduled by this event
    # Format 3: the key the participant deduplicates on (saga._ids.step_key_for), in every
    # CommandIssued. Formats 1 and 2 never write it.
    step_key: str | None = None

    @property
    def dedupe_key(self) -> str:
        """What the relay sends as saga_step_key: see `command_dedupe_key`."""
        return command_dedupe_key(self.step_key, self.message_id)


class StepSucceeded(SagaEvent):
    step: str
    attempt: int
    received: Received
    cancels_timers: list[str] = []  # format 2: timers this event closes


class StepFailed(SagaEvent):
    step: str
    attempt: int
    # "rejected" (a failure reply), "timed_out" (retries exhausted) or "refused" (the
    # participant had already handled the step's compensation: CommandRefused)
    reason: str
    received: Received | None = None
    cancels_timers: list[str] = []


class StepTimedOut(SagaEvent):
    """An attempt got no reply in time; its command may have been executed."""

    step: str
    attempt: int
    compensation: bool


class StepAbandoned(SagaEvent):
    """Compensation began while this step was in flight; it may have been executed."""

    step: str
    attempt: int
    cancels_timers: list[str] = []


class StepCompensated(SagaEvent):
    step: str
    attempt: int
    received: Received
    cancels_timers: list[str] = []


class CompensationRejected(SagaEvent):
    """A compensation attempt was answered with a failure reply; it will be retried."""

    step: str
    attempt: int
    received: Received
    cancels_timers: list[str] = []


class StepRetried(SagaEvent):
    """An operator retry reopened a failed step (or failed compensation) with a fresh budget."""

    step: str
    compensation: bool


class ReplyIgnored(SagaEvent):
    """A message that changes nothing: late, duplicate, uncorrelated or stale."""

    reason: str
    received: Received


class OperatorAction(SagaEvent):
    action: str  # "cancel", "retry" or "resolve"
    actor: str
    reason: str
    step: str | None = None
    accepted: bool
    detail: str = ""
    received: Received


# --- timers ----------------------------------------------------------------------------------


class TimerScheduled(SagaEvent):
    timer_id: str
    fire_at: str  # ISO-8601 UTC
    purpose: str  # step_timeout, step_retry, compensation_timeout, compensation_retry
    step: str | None
    attempt: int | None

    @classmethod
    def of(cls, timer: Timer) -> TimerScheduled:
        return cls(**timer.model_dump())

    @property
    def timer(self) -> Timer:
        return Timer(**self.model_dump())


class TimerFired(SagaEvent):
    timer_id: str
    received: Received


class TimerCancelled(SagaEvent):
    timer_id: str


__all__ = [
    "CURRENT_EVENT_FORMAT",
    "EVENT_FORMATS",
    "EVENT_FORMAT_EXPLICIT_TIMERS",
    "EVENT_FORMAT_INLINE_TIMERS",
    "CommandIssued",
    "CompensationFailed",
    "CompensationRejected",
    "CompensationStarted",
    "OperatorAction",
    "Received",
    "ReplyIgnored",
    "SagaCancelled",
    "SagaCompensated",
    "SagaCompleted",
    "SagaEvent",
    "SagaFailed",
    "SagaParked",
    "SagaResolved",
    "SagaStarted",
    "SagaUnparked",
    "StepAbandoned",
    "StepCompensated",
    "StepFailed",
    "StepRetried",
    "StepSucceeded",
    "StepTimedOut",
    "Timer",
    "TimerCancelled",
    "TimerFired",
    "TimerScheduled",
    "event_from_data",
    "event_from_recorded",
]
