"""evolve(state, event) -> state: the fold that replay and the live worker share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._control import CommandRefused
from orchestrator.saga._definition import SagaDefinition
from orchestrator.saga._ids import saga_id_for
from orchestrator.saga._state import (
    DeadLetterRef,
    PendingTimer,
    SagaInstance,
    SagaStatus,
    StepState,
    StepStatus,
)
from orchestrator.saga._steps import StateHook


class ReplayError(ValueError):
    """A history cannot be folded: it does not start with SagaStarted, or names other saga."""


def evolve(
    definition: SagaDefinition, instance: SagaInstance | None, event: ev.SagaEvent
) -> SagaInstance:
    if instance is None:
        if not isinstance(event, ev.SagaStarted):
            raise ReplayError(f"a saga history must start with SagaStarted, not {event.event_type}")
        return _started(definition, event)
    # One replace per event: the worker folds every event it decides, and copying the
    # instance was a large part of its CPU.
    changes = _changes(definition, instance, event)
    if inbound := event.inbound:
        changes["handled"] = instance.handled | {inbound.message_id}
    if closed := event.closed_timers:
        timers = changes.get("timers", instance.timers)
        changes["timers"] = {k: v for k, v in timers.items() if k not in closed}
    return replace(instance, version=instance.version + 1, **changes)


def replay(definition: SagaDefinition, events: Iterable[ev.SagaEvent]) -> SagaInstance | None:
    instance: SagaInstance | None = None
    for event in events:
        instance = evolve(definition, instance, event)
    return instance


def _started(definition: SagaDefinition, e: ev.SagaStarted) -> SagaInstance:
    if e.saga_type != definition.name or e.definition_version != definition.version:
        raise ReplayError(
            f"history of {e.saga_type} v{e.definition_version} folded with {definition!r}"
        )
    if e.event_format not in ev.EVENT_FORMATS:
        raise ReplayError(f"history written in unknown event format {e.event_format}")
    return SagaInstance(
        saga_id=saga_id_for(e.saga_type, e.business_key),
        saga_type=e.saga_type,
        definition_version=e.definition_version,
        business_key=e.business_key,
        status=SagaStatus.STARTED,
        state=definition.state_type.model_validate(e.state),
        steps={name: StepState() for name in definition.steps},
        handled=frozenset({e.received.message_id}),
        version=1,
        started_at=e.received.at,
        event_format=e.event_format,
    )


def _step(inst: SagaInstance, name: str, **changes: Any) -> dict[str, StepState]:
    steps = dict(inst.steps)
    steps[name] = replace(steps[name], **changes)
    return steps


def _scheduled(inst: SagaInstance, timer: ev.Timer | None) -> Mapping[str, PendingTimer]:
    if timer is None:
        return inst.timers
    pending = PendingTimer(
        timer.timer_id,
        datetime.fromisoformat(timer.fire_at),
        timer.purpose,
        timer.step,
        timer.attempt,
    )
    return {**inst.timers, timer.timer_id: pending}


def _completed(inst: SagaInstance, name: str, **changes: Any) -> dict[str, Any]:
    """Mark a step as completed-or-possibly-completed, numbering it for reverse compensation."""
    seq = inst.completed_count + 1
    return dict(steps=_step(inst, name, completed_seq=seq, **changes), completed_count=seq)


def _hooked(
    definition: SagaDefinition, state: BaseModel, hook: StateHook | None, received: ev.Received
) -> BaseModel:
    if hook is None:
        return state
    reply: Message = definition.message_types[received.message_type].model_validate(
        received.payload
    )
    new_state = hook(state, reply)
    if not isinstance(new_state, definition.state_type):
        raise TypeError(
            f"{definition!r}: a hook returned {type(new_state).__name__}, "
            f"expected {definition.state_type.__name__}"
        )
    return new_state


def _changes(definition: SagaDefinition, inst: SagaInstance, e: ev.SagaEvent) -> dict[str, Any]:
    """The fields of `inst` that `e` changes."""
    match e:
        case ev.CommandIssued(step=name, attempt=attempt, compensation=True):
            return dict(
                steps=_step(inst, name, status=StepStatus.COMPENSATING, comp_attempt=attempt),
                timers=_scheduled(inst, e.timer),
            )
        case ev.CommandIssued(step=name, attempt=attempt):
            status = SagaStatus.RUNNING if inst.status is SagaStatus.STARTED else inst.status
            return dict(
                status=status,
                stage=definition.steps[name].stage,
                steps=_step(inst, name, status=StepStatus.RUNNING, attempt=attempt),
                timers=_scheduled(inst, e.timer),
            )
        case ev.TimerScheduled():
            timers = _scheduled(inst, e.timer)
            steps = inst.steps
            if e.step is not None and e.purpose == "step_retry":
                steps = _step(inst, e.step, status=StepStatus.BACKING_OFF)
            elif e.step is not None and e.purpose == "compensation_retry":
                steps = _step(inst, e.step, status=StepStatus.COMPENSATION_BACKING_OFF)
            return dict(timers=timers, steps=steps)
        case ev.TimerFired() | ev.TimerCancelled():
            return dict(timers={k: v for k, v in inst.timers.items() if k != e.timer_id})
        case ev.StepSucceeded():
            step = definition.steps[e.step]
            state = _hooked(definition, inst.state, step.on_success, e.received)
            done = _completed(inst, e.step, status=StepStatus.SUCCEEDED, reply=e.received)
            return dict(done, state=state)
        case ev.StepFailed():
            step = definition.steps[e.step]
            state = inst.state
            # A refusal is the SDK's answer, not one of the step's failure replies: no hook.
            if e.received is not None and e.received.message_type != CommandRefused.avro_name:
                state = _hooked(definition, state, step.on_failure, e.received)
            # A failure reply proves the attempt did nothing: a later attempt (an operator
            # retry) is a new intent, which the participant must really run. After a timeout
            # or a refusal the step keeps its intent (it may have run; the tombstone answers).
            epoch = e.attempt + 1 if e.reason == "rejected" else inst.steps[e.step].epoch
            if inst.steps[e.step].possibly_executed:
                changes = _completed(inst, e.step, status=StepStatus.FAILED, epoch=epoch)
            else:
                changes = dict(steps=_step(inst, e.step, status=StepStatus.FAILED, epoch=epoch))
            return dict(changes, state=state, failed_step=e.step)
        case ev.StepTimedOut(compensation=False):
            return dict(steps=_step(inst, e.step, possibly_executed=True))
        case ev.StepAbandoned():
            return _completed(inst, e.step, status=StepStatus.ABANDONED, possibly_executed=True)
        case ev.CompensationStarted():
            return dict(
                status=SagaStatus.COMPENSATING,
                compensation_plan=tuple(e.plan),
                compensation_reason=e.reason,
                failed_step=e.failed_step,
            )
        case ev.StepCompensated():
            return dict(
                steps=_step(inst, e.step, status=StepStatus.COMPENSATED),
                compensation_plan=inst.compensation_plan[1:],
            )
        case ev.CompensationFailed():
            return dict(
                status=SagaStatus.COMPENSATION_FAILED,
                steps=_step(inst, e.step, status=StepStatus.COMPENSATION_FAILED),
            )
        case ev.StepRetried(compensation=True):
            st = inst.steps[e.step]
            # A new retry budget, not a new intent: the compensation failed through timeouts
            # (any of which may have run) unless a rejection already started a new epoch.
            return dict(
                status=SagaStatus.COMPENSATING,
                steps=_step(inst, e.step, comp_budget_start=st.comp_attempt + 1),
            )
        case ev.StepRetried():
            st = inst.steps[e.step]
            return dict(
                status=SagaStatus.RUNNING,
                failed_step=None,
                steps=_step(inst, e.step, budget_start=st.attempt + 1),
            )
        case ev.CompensationRejected():
            # Nothing happened at the participant, so the next attempt must really run again:
            # a new intent. Under the same key the stored rejection would answer it for ever.
            return dict(steps=_step(inst, e.step, comp_epoch=e.attempt + 1))
        case ev.OperatorAction(action="cancel", accepted=True):
            return dict(cancelled_by=(e.actor, e.reason))
        case ev.SagaCompleted():
            return dict(status=SagaStatus.COMPLETED)
        case ev.SagaCompensated():
            return dict(status=SagaStatus.COMPENSATED)
        case ev.SagaFailed():
            return dict(status=SagaStatus.FAILED, failed_step=e.step)
        case ev.SagaCancelled():
            return dict(status=SagaStatus.CANCELLED)
        case ev.SagaResolved():
            return dict(status=SagaStatus(e.outcome), resolved=True)
        case ev.SagaParked():
            ref = DeadLetterRef(e.topic, e.partition, e.offset)
            return dict(parked=inst.parked | {ref})
        case ev.SagaUnparked():
            ref = DeadLetterRef(e.topic, e.partition, e.offset)
            return dict(parked=inst.parked - {ref})
        case _:
            # ReplyIgnored, StepTimedOut(compensation), rejected
            # OperatorActions and SagaStarted-again only record what happened.
            return {}
