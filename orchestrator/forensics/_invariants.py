"""The invariants `sagactl audit` checks on each saga's stream, by folding it with the live
``evolve`` and looking at every event with the instance as it was just before it. Pure.

The store-wide invariants (chains against the anchors, projections against a fresh fold) and
the dead-letter topics are the adapter's (``audit_store``); a parked saga's dead letters are
handed back as ``SagaAudit.parked`` for it to look up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from orchestrator.saga import SagaDefinition, SagaInstance, SagaStatus, StepStatus, evolve
from orchestrator.saga import events as ev

__all__ = ["INVARIANTS", "DeadLetterToFind", "Invariant", "SagaAudit", "Violation", "audit_saga"]


class Invariant(enum.Enum):
    SETTLED = "settled"
    ONE_MESSAGE_ID = "one-message-id"
    COMPENSATED_IN_REVERSE = "compensated-in-reverse"
    NO_COMMAND_AFTER_TERMINAL = "no-command-after-terminal"
    CHAIN = "chain"
    PROJECTION = "projection"
    # Not an invariant of the design but the precondition of every other check: the deployed
    # saga classes cannot fold this stream (an unknown event, a type no class defines).
    UNREADABLE = "unreadable"


INVARIANTS: Final[dict[Invariant, str]] = {
    Invariant.SETTLED: "every started saga is terminal, or running within its timeouts, or "
    "parked with its message present in a dead-letter topic",
    Invariant.ONE_MESSAGE_ID: "no step attempt was issued under two message ids",
    Invariant.COMPENSATED_IN_REVERSE: "when the saga compensated, every step that completed "
    "or may have completed was compensated, in reverse order",
    Invariant.NO_COMMAND_AFTER_TERMINAL: "no command was issued after a terminal event",
    Invariant.CHAIN: "every chain verifies, and against the newest anchor",
    Invariant.PROJECTION: "the projections (saga_instances, timers) equal a fresh fold",
    Invariant.UNREADABLE: "the deployed saga classes can fold the stream",
}


@dataclass(frozen=True, slots=True)
class Violation:
    saga_id: str
    invariant: Invariant
    version: int | None  # the stream version it concerns, None for the saga as a whole
    detail: str

    def as_row(self) -> dict[str, object]:
        return {
            "saga_id": self.saga_id,
            "invariant": self.invariant.value,
            "version": self.version,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterToFind:
    saga_id: str
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class SagaAudit:
    instance: SagaInstance | None
    violations: list[Violation]
    # A parked saga's dead letters: SETTLED holds only if each is still in its topic.
    parked: list[DeadLetterToFind]


# The events a saga ends its failure handling with: by then every step that completed or may
# have must be undone (SagaFailed says there was nothing to undo).
_ENDS: Final = (ev.SagaCompensated, ev.SagaCancelled, ev.SagaFailed)


def audit_saga(
    definition: SagaDefinition,
    saga_id: str,
    events: Sequence[ev.SagaEvent],
    now: datetime,
    grace: timedelta,
) -> SagaAudit:
    """Fold ``events`` (the whole stream, version 1 first) and check the per-saga invariants."""
    violations: list[Violation] = []
    issued: dict[tuple[str, int, bool], tuple[str, int]] = {}
    closed_by: tuple[str, int] | None = None  # the terminal event the saga rested on
    required: list[str] | None = None  # what the compensation under way must undo, in order
    undone: list[str] = []
    instance: SagaInstance | None = None
    for version, event in enumerate(events, start=1):
        before = instance
        instance = evolve(definition, instance, event)
        if isinstance(event, ev.CommandIssued):
            _one_message_id(saga_id, version, event, issued, violations)
            if before is not None and before.terminal and closed_by is not None:
                violations.append(
                    Violation(
                        saga_id,
                        Invariant.NO_COMMAND_AFTER_TERMINAL,
                        version,
                        f"{'compensation ' if event.compensation else ''}command "
                        f"{event.step} attempt {event.attempt} issued after "
                        f"v{closed_by[1]} {closed_by[0]} (status {before.status.value})",
                    )
                )
        elif isinstance(event, ev.CompensationStarted):
            assert before is not None  # evolve refuses a history not started by SagaStarted
            required, undone = _to_undo(definition, before), []
        elif isinstance(event, ev.StepCompensated):
            undone.append(event.step)
        if isinstance(event, _ENDS):
            assert before is not None
            expected = required if required is not None else _to_undo(definition, before)
            if undone != expected:
                violations.append(
                    Violation(
                        saga_id,
                        Invariant.COMPENSATED_IN_REVERSE,
                        version,
                        f"{event.event_type} after compensating [{', '.join(undone)}]; the "
                        "steps that completed or may have, in reverse order, are "
                        f"[{', '.join(expected)}]",
                    )
                )
            required, undone = None, []
        if not instance.terminal:
            closed_by = None
        elif closed_by is None:
            closed_by = (event.event_type, version)
    audit = SagaAudit(instance, violations, [])
    if instance is not None:
        _settled(audit, saga_id, instance, now, grace)
    return audit


def _one_message_id(
    saga_id: str,
    version: int,
    event: ev.CommandIssued,
    issued: dict[tuple[str, int, bool], tuple[str, int]],
    violations: list[Violation],
) -> None:
    key = (event.step, event.attempt, event.compensation)
    earlier = issued.setdefault(key, (event.message_id, version))
    if earlier[0] != event.message_id:
        kind = "compensation" if event.compensation else "step"
        violations.append(
            Violation(
                saga_id,
                Invariant.ONE_MESSAGE_ID,
                version,
                f"{kind} {event.step} attempt {event.attempt} issued as {event.message_id}, "
                f"and at v{earlier[1]} as {earlier[0]}",
            )
        )


def _to_undo(definition: SagaDefinition, instance: SagaInstance) -> list[str]:
    """The steps that completed, or may have (an attempt timed out or was abandoned), and
    that have a compensation, latest first: what a compensation must undo, in that order."""
    done = [
        (state.completed_seq, name)
        for name, state in instance.steps.items()
        if state.completed_seq is not None
        and (state.status is StepStatus.SUCCEEDED or state.possibly_executed)
        and definition.steps[name].compensation is not None
    ]
    return [name for _, name in sorted(done, reverse=True)]


def _settled(
    audit: SagaAudit, saga_id: str, instance: SagaInstance, now: datetime, grace: timedelta
) -> None:
    last_version = instance.version
    if instance.terminal:
        return
    if instance.parked:
        audit.parked.extend(
            DeadLetterToFind(saga_id, ref.topic, ref.partition, ref.offset)
            for ref in sorted(instance.parked, key=lambda r: (r.topic, r.partition, r.offset))
        )
        return
    pending = [timer.fire_at for timer in instance.timers.values()]
    status = instance.status.value
    if not pending:
        detail = f"{status} at v{last_version} with no pending timer: nothing will move it"
    elif max(pending) + grace < now:
        overdue = now - max(pending)
        detail = (
            f"{status} at v{last_version}, its last timer was due at "
            f"{max(pending).isoformat()} ({_duration(overdue)} ago, more than the "
            f"{_duration(grace)} grace)"
        )
    else:
        return
    if instance.status is SagaStatus.STARTED:
        detail += " (started but never issued a command)"
    audit.violations.append(Violation(saga_id, Invariant.SETTLED, None, detail))


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
