"""SagaTestKit: run saga classes in memory, on a virtual clock, with faults on demand."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta

from orchestrator.messages import Message
from orchestrator.saga import (
    CancelSaga,
    DecisionContext,
    Envelope,
    MessageDeadLettered,
    MessageRedriven,
    ResolveSaga,
    RetryStep,
    Saga,
    SagaDefinition,
    SagaInstance,
    SagaRegistry,
    SagaStatus,
    StepStatus,
    TimerFired,
    decide,
    events,
    iso_instant,
    replay,
    saga_id_for,
    timer_message_id,
)
from orchestrator.testing._clock import VirtualClock
from orchestrator.testing._outcome import IssuedCommand, Outcome
from orchestrator.testing._participants import Responder


class SagaTestKit:
    """Drive saga classes without Kafka or Postgres.

    Every delivery runs the real decider; afterwards the kit checks that the events survive a
    JSON round trip (as the event store will store them) and that replaying the history gives
    the live instance, so a test that passes here cannot diverge on replay.
    """

    def __init__(
        self,
        *sagas: type[Saga],
        clock: VirtualClock | None = None,
        event_format: int = events.CURRENT_EVENT_FORMAT,
        participants: Sequence[Responder] = (),
    ) -> None:
        self.registry = SagaRegistry(sagas)
        # Real participant handlers (ParticipantTestClient) that `drive` delivers commands to.
        self.participants = tuple(participants)
        self.clock = clock or VirtualClock()
        # The format sagas started here are written in (SAGA_EVENT_FORMAT of a worker); sagas
        # from given() histories keep their own.
        self.event_format = event_format
        self._runs: dict[str, SagaRun] = {}
        self._next_id = 0

    def new_message_id(self) -> str:
        """A fresh message id, distinct from every id a given() history already handled."""
        taken = set().union(*(r.handled for r in self._runs.values()))
        while True:
            self._next_id += 1
            candidate = f"test-message-{self._next_id}"
            if candidate not in taken:
                return candidate

    def start(self, message: Message, *, message_id: str | None = None) -> SagaRun:
        """Deliver a start command (routed by its type, as the worker routes it)."""
        definition = self.registry.for_start(message)
        if definition is None:
            raise LookupError(f"no registered saga starts with {type(message).__name__}")
        saga_id = saga_id_for(definition.name, definition.business_key(message))
        run = self._runs.get(saga_id) or SagaRun(self, definition, saga_id, [])
        self._runs[saga_id] = run
        run.deliver(Envelope(message, message_id or self.new_message_id(), saga_id))
        return run

    def given(self, *history: events.SagaEvent) -> SagaRun:
        """A saga whose stream already holds these events (the first must be SagaStarted)."""
        definition = self.registry.for_history(history)
        first = history[0]
        assert isinstance(first, events.SagaStarted)
        saga_id = saga_id_for(first.saga_type, first.business_key)
        run = SagaRun(self, definition, saga_id, list(history))
        self._runs[saga_id] = run
        return run

    def run(self, saga_id: str) -> SagaRun:
        return self._runs[saga_id]

    def advance(self, delta: timedelta) -> list[Outcome]:
        """Move the clock forward, firing every timer that comes due, in due order."""
        target = self.clock.now() + delta
        outcomes: list[Outcome] = []
        while True:
            due = [
                (timer.fire_at, timer.timer_id, run)
                for run in self._runs.values()
                for timer in run.instance.timers.values()
                if timer.fire_at <= target
            ]
            if not due:
                break
            fire_at, timer_id, run = min(due, key=lambda d: (d[0], d[1]))
            self.clock.set(max(fire_at, self.clock.now()))
            outcomes.append(run.fire(timer_id))
        self.clock.set(target)
        return outcomes

    def drive(self) -> list[Outcome]:
        """Deliver every outstanding command not delivered yet to the participant that
        consumes its topic, and each reply back to its saga, until no new command is left.

        A command whose topic no participant consumes stays outstanding (its timeout fires on
        `advance`); a participant that sends no reply is silent the same way."""
        outcomes: list[Outcome] = []
        while True:
            delivered = False
            for run in list(self._runs.values()):
                for command in run.outstanding:
                    if command.message_id in run.sent:
                        continue
                    run.sent.add(command.message_id)
                    responder = self._responder_for(command.topic)
                    if responder is None:
                        continue
                    delivered = True
                    answer = responder.answer(
                        command,
                        saga_id=run.saga_id,
                        saga_type=run.definition.name,
                        reply_topic=run.definition.reply_topic,
                    )
                    if answer is not None:
                        outcomes.append(
                            run.when(
                                answer.message,
                                step=answer.step,
                                attempt=answer.attempt,
                                message_id=answer.message_id,
                            )
                        )
            if not delivered:
                return outcomes

    def _responder_for(self, topic: str) -> Responder | None:
        return next((p for p in self.participants if p.answers(topic)), None)

    def settle(self, limit: timedelta = timedelta(days=30)) -> list[Outcome]:
        """Fire timers until none is pending: what happens when no more replies ever come."""
        outcomes: list[Outcome] = []
        deadline = self.clock.now() + limit
        while True:
            pending = [t.fire_at for r in self._runs.values() for t in r.instance.timers.values()]
            if not pending:
                return outcomes
            if min(pending) > deadline:
                raise AssertionError(f"timers still pending after {limit}")
            outcomes.extend(self.advance(max(min(pending) - self.clock.now(), timedelta(0))))


class SagaRun:
    """One saga instance in the kit: its history, state and outstanding commands."""

    def __init__(
        self,
        kit: SagaTestKit,
        definition: SagaDefinition,
        saga_id: str,
        history: list[events.SagaEvent],
    ) -> None:
        self.kit = kit
        self.definition = definition
        self.saga_id = saga_id
        self.history = history
        self._instance = replay(definition, history)
        self._last: Outcome | None = None
        # Message ids of the commands `SagaTestKit.drive` has handed to participants.
        self.sent: set[str] = set()

    # --- inspection ----------------------------------------------------------------------------

    @property
    def instance(self) -> SagaInstance:
        if self._instance is None:
            raise AssertionError(f"saga {self.saga_id} has not started")
        return self._instance

    @property
    def last(self) -> Outcome:
        """The outcome of the latest delivery (for start(), the start command's)."""
        if self._last is None:
            raise AssertionError("nothing was delivered to this saga yet")
        return self._last

    @property
    def handled(self) -> frozenset[str]:
        return self._instance.handled if self._instance else frozenset()

    @property
    def state(self) -> object:
        return self.instance.state

    @property
    def status(self) -> SagaStatus:
        return self.instance.status

    @property
    def commands(self) -> list[IssuedCommand]:
        """Every command issued so far, in order."""
        return [
            IssuedCommand.of(self.definition, e)
            for e in self.history
            if isinstance(e, events.CommandIssued)
        ]

    @property
    def outstanding(self) -> list[IssuedCommand]:
        """Commands whose reply the saga is waiting for right now."""
        inst = self.instance
        result = []
        for c in self.commands:
            st = inst.steps[c.step]
            waiting = (
                st.status is StepStatus.COMPENSATING and st.comp_attempt == c.attempt
                if c.compensation
                else st.status is StepStatus.RUNNING and st.attempt == c.attempt
            )
            if waiting:
                result.append(c)
        return result

    def events_of(self, kind: type[events.SagaEvent]) -> list[events.SagaEvent]:
        return [e for e in self.history if isinstance(e, kind)]

    # --- delivering messages -------------------------------------------------------------------

    def envelope(
        self,
        message: Message,
        *,
        step: str | None = None,
        attempt: int | None = None,
        message_id: str | None = None,
    ) -> Envelope:
        """An envelope for a reply; step and attempt default to the outstanding command the
        reply answers (as a participant echoing the command's headers would set them)."""
        if step is None or attempt is None:
            command = self._answered_by(message, step)
            step = step or command.step
            attempt = command.attempt if attempt is None else attempt
        return Envelope(
            message, message_id or self.kit.new_message_id(), self.saga_id, step, attempt
        )

    def when(
        self,
        message: Message,
        *,
        step: str | None = None,
        attempt: int | None = None,
        message_id: str | None = None,
    ) -> Outcome:
        """Deliver a reply (correlated to its outstanding command unless step/attempt given)."""
        return self.deliver(
            self.envelope(message, step=step, attempt=attempt, message_id=message_id)
        )

    reply = when

    def deliver(self, envelope: Envelope) -> Outcome:
        """Deliver an envelope exactly as given: the hook for reordering and duplication."""
        context = DecisionContext.for_message(
            self.kit.clock.now(), envelope.message_id, event_format=self.kit.event_format
        )
        decision = decide(self.definition, self._instance, envelope, context)
        self._check_storable(decision.events)
        self.history.extend(decision.events)
        self._instance = decision.instance
        replayed = replay(self.definition, self.history)
        if replayed != self._instance:
            raise AssertionError("replaying the history does not give the live instance")
        outcome = Outcome(
            envelope=envelope,
            events=decision.events,
            commands=tuple(
                IssuedCommand.of(self.definition, e)
                for e in decision.events
                if isinstance(e, events.CommandIssued)
            ),
        )
        self._last = outcome
        return outcome

    def redeliver(self, outcome: Outcome | None = None) -> Outcome:
        """Fault: deliver the same message again (same message id), as Kafka may."""
        return self.deliver((outcome or self.last).envelope)

    def deliver_all(self, envelopes: Iterable[Envelope]) -> list[Outcome]:
        """Fault: deliver prepared envelopes in the given order (e.g. replies reordered)."""
        return [self.deliver(e) for e in envelopes]

    def race_timeout(self, message: Message, *, step: str | None = None) -> tuple[Outcome, ...]:
        """Fault: the step's timeout fires just before its reply arrives.

        Prepares the reply for the outstanding attempt, advances the clock to that attempt's
        timeout so the timer fires, then delivers the (now late) reply. Returns the outcomes
        of the timer firings followed by the reply's.
        """
        envelope = self.envelope(message, step=step)
        timer = next(
            t
            for t in self.instance.timers.values()
            if t.step == envelope.step
            and t.attempt == envelope.attempt
            and t.purpose.endswith("timeout")
        )
        fired = self.kit.advance(max(timer.fire_at - self.kit.clock.now(), timedelta(0)))
        return (*fired, self.deliver(envelope))

    def fire(self, timer_id: str) -> Outcome:
        """Deliver the TimerFired message of a timer now, whatever the clock says."""
        timer = self.instance.timers.get(timer_id)
        fire_at = iso_instant(timer.fire_at) if timer else ""
        message = TimerFired(saga_id=self.saga_id, timer_id=timer_id, fire_at=fire_at)
        return self.deliver(Envelope(message, timer_message_id(timer_id), self.saga_id))

    def advance(self, delta: timedelta) -> list[Outcome]:
        return self.kit.advance(delta)

    # --- operator and worker messages ----------------------------------------------------------

    def _control(self, message: Message) -> Outcome:
        return self.deliver(Envelope(message, self.kit.new_message_id(), self.saga_id))

    def cancel(self, actor: str = "test", reason: str = "test") -> Outcome:
        return self._control(CancelSaga(saga_id=self.saga_id, actor=actor, reason=reason))

    def retry(self, step: str, actor: str = "test", reason: str = "test") -> Outcome:
        return self._control(RetryStep(saga_id=self.saga_id, step=step, actor=actor, reason=reason))

    def resolve(self, outcome: str, actor: str = "test", reason: str = "test") -> Outcome:
        return self._control(
            ResolveSaga(saga_id=self.saga_id, outcome=outcome, actor=actor, reason=reason)
        )

    def dead_letter(
        self, topic: str, partition: int = 0, offset: int = 0, reason: str = "poison"
    ) -> Outcome:
        return self._control(
            MessageDeadLettered(
                saga_id=self.saga_id, topic=topic, partition=partition, offset=offset, reason=reason
            )
        )

    def redrive(self, topic: str, partition: int = 0, offset: int = 0) -> Outcome:
        return self._control(
            MessageRedriven(
                saga_id=self.saga_id, topic=topic, partition=partition, offset=offset, actor="test"
            )
        )

    # --- internals -----------------------------------------------------------------------------

    def _answered_by(self, message: Message, step: str | None) -> IssuedCommand:
        kind = type(message)
        for command in self.outstanding:
            d = self.definition.steps[command.step]
            if command.compensation:
                assert d.compensation is not None
                types: Sequence[type[Message]] = (*d.compensation.success, *d.compensation.failure)
            else:
                types = (*d.success, *d.failure)
            if kind in types and step in (None, command.step):
                return command
        raise AssertionError(
            f"no outstanding command of saga {self.definition.name} is answered by "
            f"{kind.__name__}; outstanding: {[(c.step, c.attempt) for c in self.outstanding]}"
        )

    @staticmethod
    def _check_storable(new: Sequence[events.SagaEvent]) -> None:
        for event in new:
            stored = event.to_new_event()
            data = json.loads(json.dumps(stored.data))
            if events.event_from_data(stored.event_type, data, stored.schema_version) != event:
                raise AssertionError(f"{event!r} does not survive a JSON round trip")
