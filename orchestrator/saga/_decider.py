"""decide(state, message) -> events: the pure heart of the orchestrator.

Every decision is built by emitting events one at a time and folding each into a working copy
of the instance with the same ``evolve`` that replay uses, so the state after a decision is,
by construction, the fold of its events (invariant 3). Clock and randomness come from the
``DecisionContext``; ids are derived (``_ids``); nothing here reads the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._control import (
    CancelSaga,
    CommandRefused,
    MessageDeadLettered,
    MessageRedriven,
    ResolveSaga,
    RetryStep,
    TimerFired,
)
from orchestrator.saga._definition import SagaDefinition, StepDef
from orchestrator.saga._envelope import DecisionContext, Envelope
from orchestrator.saga._evolve import evolve
from orchestrator.saga._ids import command_message_id, saga_id_for, step_key_for, timer_id_for
from orchestrator.saga._state import (
    CLOSED,
    DeadLetterRef,
    SagaInstance,
    SagaStatus,
    StepStatus,
)
from orchestrator.saga._time import iso_instant as iso

_STILL_HEARD_WHEN_RESOLVED = (
    CancelSaga,
    RetryStep,
    ResolveSaga,
    MessageDeadLettered,
    MessageRedriven,
)
# Members of a stage that are done with it: succeeded, or skipped by `when=` (entering a stage
# issues every member that runs, so a member still pending then was skipped).
_NOT_RERUN = (StepStatus.SUCCEEDED, StepStatus.PENDING)
RESOLVE_OUTCOMES = frozenset(
    {SagaStatus.COMPLETED.value, SagaStatus.COMPENSATED.value, SagaStatus.FAILED.value}
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The events one message produced and the instance they fold into."""

    events: tuple[ev.SagaEvent, ...]
    instance: SagaInstance | None

    @property
    def commands(self) -> tuple[ev.CommandIssued, ...]:
        return tuple(e for e in self.events if isinstance(e, ev.CommandIssued))


def decide(
    definition: SagaDefinition,
    instance: SagaInstance | None,
    envelope: Envelope,
    context: DecisionContext,
) -> Decision:
    """Decide what one inbound message means for one saga instance.

    ``instance`` is None for a saga with no events yet. A message the instance has already
    handled (same message id) yields no events: redelivery changes nothing. A non-start
    message for a saga that does not exist also yields none.
    """
    if instance is not None and envelope.message_id in instance.handled:
        return Decision((), instance)
    d = _Builder(definition, instance, envelope, context)
    if instance is None:
        if isinstance(envelope.message, definition.start_type):
            d.start()
        return d.result()
    d.dispatch()
    return d.result()


class _Builder:
    def __init__(
        self,
        definition: SagaDefinition,
        instance: SagaInstance | None,
        envelope: Envelope,
        context: DecisionContext,
    ) -> None:
        self.definition = definition
        self._instance = instance
        self.envelope = envelope
        self.ctx = context
        self.events: list[ev.SagaEvent] = []
        self.received = ev.Received(
            message_id=envelope.message_id,
            message_type=envelope.message.avro_name,
            payload=envelope.message.model_dump(mode="json"),
            step=envelope.step,
            attempt=envelope.attempt,
            at=iso(context.now),
        )

    @property
    def inst(self) -> SagaInstance:
        assert self._instance is not None, "decision on a saga that has not started"
        return self._instance

    def result(self) -> Decision:
        # Every decision opens with the event recording its input: that is how the replay
        # check finds decision boundaries and re-runs the inputs.
        assert not self.events or self.events[0].inbound is not None, self.events[0]
        return Decision(tuple(self.events), self._instance)

    def emit(self, event: ev.SagaEvent) -> None:
        self._instance = evolve(self.definition, self._instance, event)
        self.events.append(event)

    def ignore(self, reason: str) -> None:
        self.emit(ev.ReplyIgnored(reason=reason, received=self.received))

    # --- dispatch ----------------------------------------------------------------------------

    def dispatch(self) -> None:
        message = self.envelope.message
        if self.inst.resolved and not isinstance(message, _STILL_HEARD_WHEN_RESOLVED):
            # Settled by hand: a late reply or a timer must not drive it on. Operator actions
            # are still recorded (and refused); dead letters and redrives keep their books.
            self.ignore("saga_resolved")
            return
        match message:
            case TimerFired():
                self.on_timer(message)
            case CancelSaga():
                self.on_cancel(message)
            case RetryStep():
                self.on_retry(message)
            case ResolveSaga():
                self.on_resolve(message)
            case MessageDeadLettered():
                self.on_dead_letter(message)
            case MessageRedriven():
                self.on_redrive(message)
            case CommandRefused():
                self.on_refused()
            case _ if isinstance(message, self.definition.start_type):
                # One saga per business key: the second start lands here and changes nothing.
                self.ignore("already_started")
            case _:
                self.on_reply(message)

    # --- start and forward steps -------------------------------------------------------------

    def start(self) -> None:
        definition, start = self.definition, self.envelope.message
        key = definition.business_key(start)
        expected = saga_id_for(definition.name, key)
        if self.envelope.saga_id != expected:
            raise ValueError(
                f"start of {definition.name} for key {key!r} addressed to saga "
                f"{self.envelope.saga_id}, expected {expected}"
            )
        self.emit(
            ev.SagaStarted(
                saga_type=definition.name,
                definition_version=definition.version,
                business_key=key,
                state=definition.initial_state(start).model_dump(mode="json"),
                received=self.received,
                event_format=self.ctx.event_format,
            )
        )
        self.enter_stage(0)

    def enter_stage(self, index: int) -> None:
        if index == len(self.definition.stages):
            self.emit(ev.SagaCompleted(state=self.inst.state.model_dump(mode="json")))
            return
        # `when=`: decided from the state as the stage begins, so a replay decides the same and
        # no event records a skip. A skipped step stays pending: never run, never compensated.
        running = [s for s in self.definition.stages[index].steps if s.runs_in(self.inst.state)]
        if not running:
            self.enter_stage(index + 1)
            return
        for step in running:
            self.issue(step, self.inst.steps[step.name].attempt + 1, compensation=False)

    def issue(self, step: StepDef, attempt: int, *, compensation: bool) -> None:
        saga_id = self.inst.saga_id
        if compensation:
            assert step.compensation is not None
            reply = self.inst.steps[step.name].reply
            command = step.compensation.build(self.inst.state, saga_id, reply)
            topic, timeout = step.compensation.topic, step.compensation.timeout
        else:
            command = step.build(self.inst.state, saga_id)
            topic, timeout = step.topic, step.timeout
        purpose = "compensation_timeout" if compensation else "step_timeout"
        timer = self.timer(purpose, step.name, attempt, timeout)
        # Format 3 writes the participant's dedupe key into every command. Formats 1 and 2
        # never do: their histories replay byte for byte, and workers that predate format 3
        # can read what this one writes (the relay dedupes their commands per attempt).
        step_key = None
        if self.inst.event_format >= ev.EVENT_FORMAT_STEP_KEYS:
            state = self.inst.steps[step.name]
            epoch = state.comp_epoch if compensation else state.epoch
            step_key = step_key_for(saga_id, step.name, compensation=compensation, epoch=epoch)
        self.emit(
            ev.CommandIssued(
                step=step.name,
                attempt=attempt,
                compensation=compensation,
                topic=topic,
                key=saga_id,
                message_type=command.avro_name,
                message_id=command_message_id(
                    saga_id, step.name, attempt, compensation=compensation
                ),
                payload=command.model_dump(mode="json"),
                reply_topic=self.definition.reply_topic,
                timer=timer if self.inline_timers else None,
                step_key=step_key,
            )
        )
        if not self.inline_timers:
            self.emit(ev.TimerScheduled.of(timer))

    def timer(self, purpose: str, step: str, attempt: int, delay: timedelta) -> ev.Timer:
        return ev.Timer(
            timer_id=timer_id_for(self.inst.saga_id, purpose, step, attempt),
            fire_at=iso(self.ctx.now + delay),
            purpose=purpose,
            step=step,
            attempt=attempt,
        )

    def schedule(self, purpose: str, step: str, attempt: int, delay: timedelta) -> None:
        self.emit(ev.TimerScheduled.of(self.timer(purpose, step, attempt, delay)))

    @property
    def inline_timers(self) -> bool:
        return self.inst.event_format >= ev.EVENT_FORMAT_INLINE_TIMERS

    def closing(self, step: str) -> list[str]:
        """Format 2: the pending timers of `step`, which the event ending its attempt closes
        by itself. Format 1: none, `cancel_timers` writes them out instead."""
        if not self.inline_timers:
            return []
        return [t.timer_id for t in self.inst.timers.values() if t.step == step]

    def cancel_timers(self, step: str) -> None:
        """Format 1: a TimerCancelled for each pending timer of `step`."""
        if self.inline_timers:
            return
        for timer in list(self.inst.timers.values()):
            if timer.step == step:
                self.emit(ev.TimerCancelled(timer_id=timer.timer_id))

    def on_reply(self, reply: Message) -> None:
        name, attempt = self.envelope.step, self.envelope.attempt
        step = self.definition.steps.get(name) if name else None
        if step is None or attempt is None:
            self.ignore("uncorrelated")
            return
        state = self.inst.steps[step.name]
        kind = type(reply)
        comp = step.compensation
        if kind in step.success or kind in step.failure:
            if state.status is not StepStatus.RUNNING or attempt != state.attempt:
                self.ignore("late_reply")
                return
            if kind in step.success:
                self.end_attempt(ev.StepSucceeded, step, attempt)
                self.after_success(step)
            else:
                self.end_attempt(ev.StepFailed, step, attempt, reason="rejected")
                self.begin_compensation("failed", step.name)
        elif comp is not None and (kind in comp.success or kind in comp.failure):
            if state.status is not StepStatus.COMPENSATING or attempt != state.comp_attempt:
                self.ignore("late_reply")
                return
            if kind in comp.success:
                self.end_attempt(ev.StepCompensated, step, attempt)
                self.continue_compensation()
            else:
                self.end_attempt(ev.CompensationRejected, step, attempt)
                self.retry_compensation(step, "rejected")
        else:
            self.ignore("unexpected_reply_type")

    def on_refused(self) -> None:
        """The participant refused to execute an attempt (it had handled the step's
        compensation first): for the attempt the saga waits for, a failure of the step."""
        name, attempt = self.envelope.step, self.envelope.attempt
        step = self.definition.steps.get(name) if name else None
        if step is None or attempt is None:
            self.ignore("uncorrelated")
            return
        state = self.inst.steps[step.name]
        if state.status is not StepStatus.RUNNING or attempt != state.attempt:
            self.ignore("late_reply")
            return
        self.end_attempt(ev.StepFailed, step, attempt, reason="refused")
        self.begin_compensation("failed", step.name)

    def end_attempt(
        self,
        kind: type[ev.StepSucceeded | ev.StepFailed | ev.StepCompensated | ev.CompensationRejected],
        step: StepDef,
        attempt: int,
        **fields: str,
    ) -> None:
        """Record the reply that ends `attempt` of `step`; it closes the step's timeout."""
        closing = self.closing(step.name)
        self.emit(
            kind(
                step=step.name,
                attempt=attempt,
                received=self.received,
                cancels_timers=closing,
                **fields,
            )
        )
        self.cancel_timers(step.name)

    def after_success(self, step: StepDef) -> None:
        stage = self.definition.stages[step.stage]
        # Fan-in: the stage is done when every member has succeeded (or was skipped).
        if all(self.inst.steps[s.name].status in _NOT_RERUN for s in stage.steps):
            self.enter_stage(step.stage + 1)

    # --- timers ------------------------------------------------------------------------------

    def on_timer(self, fired: TimerFired) -> None:
        timer = self.inst.timers.get(fired.timer_id)
        if timer is None:
            # Cancelled (the step replied first) or already fired: nothing left to do.
            self.ignore("stale_timer")
            return
        self.emit(ev.TimerFired(timer_id=timer.timer_id, received=self.received))
        if timer.step is None or timer.attempt is None:
            return
        step = self.definition.steps[timer.step]
        state = self.inst.steps[step.name]
        if timer.purpose == "step_timeout" and state.status is StepStatus.RUNNING:
            self.emit(ev.StepTimedOut(step=step.name, attempt=timer.attempt, compensation=False))
            used = state.attempt - state.budget_start + 1
            if used < step.retry.max_attempts:
                delay = step.retry.backoff(used, self.ctx.random.random())
                self.schedule("step_retry", step.name, timer.attempt, delay)
            else:
                self.emit(ev.StepFailed(step=step.name, attempt=timer.attempt, reason="timed_out"))
                self.begin_compensation("failed", step.name)
        elif timer.purpose == "step_retry" and state.status is StepStatus.BACKING_OFF:
            self.issue(step, state.attempt + 1, compensation=False)
        elif timer.purpose == "compensation_timeout" and state.status is StepStatus.COMPENSATING:
            self.emit(ev.StepTimedOut(step=step.name, attempt=timer.attempt, compensation=True))
            self.retry_compensation(step, "timed_out")
        elif (
            timer.purpose == "compensation_retry"
            and state.status is StepStatus.COMPENSATION_BACKING_OFF
        ):
            self.issue(step, state.comp_attempt + 1, compensation=True)

    # --- compensation ------------------------------------------------------------------------

    def begin_compensation(self, reason: str, failed_step: str | None) -> None:
        # Whatever is still in flight may have been executed: stop waiting for it (fail fast)
        # and compensate it like a completed step.
        for name, state in list(self.inst.steps.items()):
            if state.status in (StepStatus.RUNNING, StepStatus.BACKING_OFF):
                self.cancel_timers(name)
                self.emit(
                    ev.StepAbandoned(
                        step=name, attempt=state.attempt, cancels_timers=self.closing(name)
                    )
                )
        candidates = [
            (state.completed_seq, name)
            for name, state in self.inst.steps.items()
            if self.definition.steps[name].compensation is not None
            and state.completed_seq is not None
            and (state.status is StepStatus.SUCCEEDED or state.possibly_executed)
        ]
        plan = [name for _, name in sorted(candidates, reverse=True)]
        if not plan:
            self.finish_compensation(reason, failed_step)
            return
        self.emit(ev.CompensationStarted(reason=reason, failed_step=failed_step, plan=plan))
        self.compensate_next()

    def compensate_next(self) -> None:
        step = self.definition.steps[self.inst.compensation_plan[0]]
        self.issue(step, self.inst.steps[step.name].comp_attempt + 1, compensation=True)

    def continue_compensation(self) -> None:
        if self.inst.compensation_plan:
            self.compensate_next()
        else:
            self.finish_compensation(self.inst.compensation_reason or "failed", None)

    def finish_compensation(self, reason: str, failed_step: str | None) -> None:
        if reason == "cancelled":
            actor, why = self.inst.cancelled_by or ("", "")
            self.emit(ev.SagaCancelled(actor=actor, reason=why))
        elif self.inst.status is SagaStatus.COMPENSATING:
            self.emit(ev.SagaCompensated())
        else:
            step = failed_step or self.inst.failed_step or ""
            self.emit(ev.SagaFailed(step=step, reason="step_failed"))

    def retry_compensation(self, step: StepDef, why: str) -> None:
        assert step.compensation is not None
        state = self.inst.steps[step.name]
        used = state.comp_attempt - state.comp_budget_start + 1
        policy = step.compensation.retry
        if used < policy.max_attempts:
            delay = policy.backoff(used, self.ctx.random.random())
            self.schedule("compensation_retry", step.name, state.comp_attempt, delay)
        else:
            self.emit(
                ev.CompensationFailed(
                    step=step.name, attempt=state.comp_attempt, reason=f"{why}_after_retries"
                )
            )

    # --- operator actions --------------------------------------------------------------------

    def operator(
        self, action: str, actor: str, reason: str, step: str | None, refusal: str | None
    ) -> bool:
        self.emit(
            ev.OperatorAction(
                action=action,
                actor=actor,
                reason=reason,
                step=step,
                accepted=refusal is None,
                detail=refusal or "",
                received=self.received,
            )
        )
        return refusal is None

    def on_cancel(self, m: CancelSaga) -> None:
        status = self.inst.status
        refusal = (
            None
            if status in (SagaStatus.STARTED, SagaStatus.RUNNING)
            else f"cannot cancel a saga that is {status.value}"
        )
        if self.operator("cancel", m.actor, m.reason, None, refusal):
            self.begin_compensation("cancelled", None)

    def on_retry(self, m: RetryStep) -> None:
        status = self.inst.status
        state = self.inst.steps.get(m.step)
        refusal: str | None = None
        if self.inst.resolved:
            refusal = f"the saga was resolved by hand as {status.value}"
        elif state is None:
            refusal = f"no step named {m.step!r}"
        elif status is SagaStatus.COMPENSATION_FAILED:
            if state.status is not StepStatus.COMPENSATION_FAILED:
                refusal = f"the compensation of {m.step!r} has not failed"
        elif status is SagaStatus.FAILED:
            if self.inst.failed_step != m.step:
                refusal = f"the failed step is {self.inst.failed_step!r}, not {m.step!r}"
        else:
            refusal = f"cannot retry a step of a saga that is {status.value}"
        if not self.operator("retry", m.actor, m.reason, m.step, refusal):
            return
        step = self.definition.steps[m.step]
        if status is SagaStatus.COMPENSATION_FAILED:
            self.emit(ev.StepRetried(step=m.step, compensation=True))
            self.issue(step, self.inst.steps[m.step].comp_attempt + 1, compensation=True)
            return
        # A failed saga compensated nothing, so its failed stage is re-entered as a whole:
        # in a parallel group, the siblings that were abandoned run again too.
        for member in self.definition.stages[step.stage].steps:
            # Members still pending were skipped (`when=`) when the stage began: they stay so.
            if self.inst.steps[member.name].status not in (
                StepStatus.SUCCEEDED,
                StepStatus.PENDING,
            ):
                self.emit(ev.StepRetried(step=member.name, compensation=False))
                self.issue(member, self.inst.steps[member.name].attempt + 1, compensation=False)

    def on_resolve(self, m: ResolveSaga) -> None:
        status = self.inst.status
        refusal: str | None = None
        if m.outcome not in RESOLVE_OUTCOMES:
            refusal = f"outcome must be one of {sorted(RESOLVE_OUTCOMES)}, not {m.outcome!r}"
        elif status in CLOSED or self.inst.resolved:
            refusal = f"the saga is already {status.value}"
        if not self.operator("resolve", m.actor, m.reason, None, refusal):
            return
        # Steps still in flight are the operator's to settle; their timers must not fire
        # retries into a closed saga.
        for timer_id in list(self.inst.timers):
            self.emit(ev.TimerCancelled(timer_id=timer_id))
        self.emit(ev.SagaResolved(outcome=m.outcome, actor=m.actor, reason=m.reason))

    # --- dead letters ------------------------------------------------------------------------

    def on_dead_letter(self, m: MessageDeadLettered) -> None:
        if self.inst.terminal:
            self.ignore("saga_finished")
            return
        self.emit(
            ev.SagaParked(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                reason=m.reason,
                received=self.received,
            )
        )

    def on_redrive(self, m: MessageRedriven) -> None:
        ref = DeadLetterRef(m.topic, m.partition, m.offset)
        if ref not in self.inst.parked:
            self.ignore("not_parked")
            return
        self.emit(
            ev.SagaUnparked(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                still_parked=len(self.inst.parked) - 1,
                received=self.received,
            )
        )
