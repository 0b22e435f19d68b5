"""The state of one saga instance, as folded from its events (never stored by itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from orchestrator.saga.events import Received


class SagaStatus(StrEnum):
    STARTED = "started"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    FAILED = "failed"
    COMPENSATION_FAILED = "compensation_failed"
    CANCELLED = "cancelled"


# Where an instance rests once its messages stop. COMPENSATION_FAILED and FAILED wait for an
# operator (RetryStep, ResolveSaga) but nothing else moves them.
TERMINAL = frozenset(
    {
        SagaStatus.COMPLETED,
        SagaStatus.COMPENSATED,
        SagaStatus.FAILED,
        SagaStatus.COMPENSATION_FAILED,
        SagaStatus.CANCELLED,
    }
)
# Terminal and closed for good: an operator can neither retry nor resolve these.
CLOSED = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.CANCELLED})


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # command sent, waiting for the reply of `attempt`
    BACKING_OFF = "backing_off"  # an attempt timed out, the retry timer is pending
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"  # in flight when compensation began
    COMPENSATING = "compensating"  # compensation sent, waiting for `comp_attempt`'s reply
    COMPENSATION_BACKING_OFF = "compensation_backing_off"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


@dataclass(frozen=True, slots=True)
class StepState:
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0  # last forward attempt issued
    budget_start: int = 1  # first attempt of the current retry budget (operator retry resets)
    # Some attempt got no reply (timed out or abandoned): the participant may have executed
    # it, so the step must be compensated even though it never reported success.
    possibly_executed: bool = False
    # Position in the order steps completed (or may have): compensation runs in reverse.
    completed_seq: int | None = None
    comp_attempt: int = 0
    comp_budget_start: int = 1
    # First attempt of the current intent (see _ids.step_key_for): the attempts from here on
    # share one step key. Only a failure reply, which proves nothing happened, starts a new
    # intent: StepFailed(rejected) for the step, CompensationRejected for its compensation.
    # Operator retries after timeouts continue the intent (the step may have run).
    epoch: int = 1
    comp_epoch: int = 1
    # The success reply that proved the step ran: what a compensation may be built from.
    reply: Received | None = None


@dataclass(frozen=True, slots=True)
class PendingTimer:
    timer_id: str
    fire_at: datetime
    purpose: str
    step: str | None
    attempt: int | None


@dataclass(frozen=True, slots=True)
class DeadLetterRef:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SagaInstance:
    saga_id: str
    saga_type: str
    definition_version: int
    business_key: str
    status: SagaStatus
    state: BaseModel
    steps: Mapping[str, StepState]
    stage: int = 0
    completed_count: int = 0  # steps that completed or may have, so far
    compensation_plan: tuple[str, ...] = ()  # still to compensate; the head is in progress
    compensation_reason: str | None = None
    failed_step: str | None = None
    cancelled_by: tuple[str, str] | None = None  # (actor, reason)
    # An operator closed the saga by hand (SagaResolved): nothing may drive it any more.
    resolved: bool = False
    timers: Mapping[str, PendingTimer] = field(default_factory=dict)
    parked: frozenset[DeadLetterRef] = frozenset()
    handled: frozenset[str] = frozenset()  # ids of messages already decided on
    version: int = 0  # events folded so far: the stream version to append after
    started_at: str = ""  # the start decision's clock reading (ISO-8601 UTC), for durations
    event_format: int = 1  # how this instance's decisions are written (see saga.events)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def lifecycle(self) -> str:
        """Status as shown to operators: ``parked`` while a dead letter of it is pending."""
        return "parked" if self.parked and not self.terminal else self.status.value
