"""Facts about one batch's decisions that the worker reports but the decider does not need:
what became of each message (its span's outcome, its log line) and how long the steps that a
reply ended took (the step-duration histogram).

A step's duration runs from its command being issued to the reply that ended it. The issue
time is in the state already: the step's timeout timer fires `timeout` after it, so no new
state and no read of the log is needed. A step that ended by timing out has no reply and is
not measured (its duration is its timeout, which the timeout counters already say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.observability import ConsumeOutcome
from orchestrator.saga import SagaDefinition, SagaInstance
from orchestrator.saga.events import (
    CommandIssued,
    CompensationFailed,
    SagaEvent,
    StepCompensated,
    StepFailed,
    StepSucceeded,
)


@dataclass(frozen=True, slots=True)
class Decided:
    """What became of one decided message."""

    result: ConsumeOutcome  # processed, duplicate or ignored
    lifecycle: str | None  # the saga's status after it
    step: str | None  # the step it answered, or the first step a start issued
    events: tuple[str, ...]  # the event types it produced


def first_step(events: Sequence[SagaEvent]) -> str | None:
    """The step of the first command a decision issued (what a start message began)."""
    for event in events:
        if isinstance(event, CommandIssued):
            return event.step
    return None


def ended_steps(
    definition: SagaDefinition,
    before: SagaInstance | None,
    events: Sequence[SagaEvent],
    now: datetime,
) -> list[tuple[str, str, float]]:
    """(saga type, step, seconds) for every step (or compensation) a reply ended in `events`,
    measured from its command's issue, read back from its timeout timer in `before`."""
    if before is None:
        return []
    ended: list[tuple[str, str, float]] = []
    for event in events:
        if isinstance(event, StepSucceeded | StepCompensated | CompensationFailed):
            compensation = not isinstance(event, StepSucceeded)
        elif isinstance(event, StepFailed) and event.reason != "timed_out":
            compensation = False
        else:
            continue
        purpose = "compensation_timeout" if compensation else "step_timeout"
        timer = next(
            (
                t
                for t in before.timers.values()
                if t.purpose == purpose and t.step == event.step and t.attempt == event.attempt
            ),
            None,
        )
        step = definition.steps.get(event.step)
        if timer is None or step is None:
            continue
        spec = step.compensation if compensation else step
        if spec is None:
            continue
        issued = timer.fire_at - spec.timeout
        ended.append((definition.name, event.step, max((now - issued).total_seconds(), 0.0)))
    return ended
