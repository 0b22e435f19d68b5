"""Property tests over random message sequences (hypothesis), for both example sagas.

A sequence mixes replies (success or failure) to outstanding commands, redeliveries, late
replies to old attempts, clock jumps, operator cancels and dead letters. Then the messages
stop: only timers fire, until none is pending. Whatever happened, the invariants below hold.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from orchestrator.messages import Message
from orchestrator.saga import TERMINAL, Saga, SagaDefinition, SagaStatus, events, replay
from orchestrator.testing import SagaRun, SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import PlaceOrder
from sagas.trip_booking import TripBooking
from sagas.trip_messages import BookTrip

STARTS: dict[str, Message] = {
    "order": PlaceOrder(
        order_id="o", customer_id="c", sku="S", quantity=2, amount_cents=300, address="A"
    ),
    "trip": BookTrip(trip_id="t", traveller_id="p", destination="D", nights=3, price_cents=900),
}
# Declared: two sagas of different start and state types have no common type but `Saga`.
SAGAS: dict[str, type[Saga]] = {"order": OrderFulfilment, "trip": TripBooking}
TERMINAL_EVENTS = (
    events.SagaCompleted,
    events.SagaCompensated,
    events.SagaFailed,
    events.SagaCancelled,
    events.CompensationFailed,
)


@dataclass(frozen=True)
class Reply:
    pick: int
    success: bool


@dataclass(frozen=True)
class Redeliver:
    pick: int


@dataclass(frozen=True)
class LateReply:
    pick: int


@dataclass(frozen=True)
class Advance:
    seconds: int


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class DeadLetter:
    offset: int


@dataclass(frozen=True)
class Redrive:
    offset: int


Action = Reply | Redeliver | LateReply | Advance | Cancel | DeadLetter | Redrive

actions = st.lists(
    st.one_of(
        st.builds(Reply, st.integers(0, 5), st.booleans()),
        # Success is the common case; without this weight few sagas would ever complete.
        st.builds(Reply, st.integers(0, 5), st.just(True)),
        st.builds(Reply, st.integers(0, 5), st.just(True)),
        st.builds(Reply, st.integers(0, 5), st.just(True)),
        st.builds(Redeliver, st.integers(0, 50)),
        st.builds(LateReply, st.integers(0, 50)),
        st.builds(Advance, st.integers(1, 90)),
        st.just(Cancel()),
        st.builds(DeadLetter, st.integers(0, 2)),
        st.builds(Redrive, st.integers(0, 2)),
    ),
    max_size=40,
)


def fill(kind: type[Message], state: BaseModel) -> Message:
    """A reply of type `kind`: fields the state has are copied, others get plain values."""
    values: dict[str, Any] = {}
    for name, info in kind.model_fields.items():
        if hasattr(state, name) and getattr(state, name) is not None:
            values[name] = getattr(state, name)
        elif not info.is_required():
            continue
        else:
            annotation = info.annotation
            if isinstance(annotation, types.UnionType):
                annotation = typing.get_args(annotation)[0]
            values[name] = 7 if annotation is int else f"{name}-value"
    return kind(**values)


def reply_types(definition: SagaDefinition, step: str, compensation: bool, success: bool) -> Any:
    d = definition.steps[step]
    if compensation:
        assert d.compensation is not None
        options = d.compensation.success if success else d.compensation.failure
        return (options or d.compensation.success)[0]
    return (d.success if success else d.failure or d.success)[0]


def play(saga: str, script: list[Action]) -> SagaRun:
    kit = SagaTestKit(SAGAS[saga])
    run = kit.start(STARTS[saga])
    delivered = [run.last.envelope]
    for action in script:
        match action:
            case Reply(pick, success):
                if not run.outstanding:
                    continue
                command = run.outstanding[pick % len(run.outstanding)]
                kind = reply_types(run.definition, command.step, command.compensation, success)
                out = run.when(
                    fill(kind, run.instance.state), step=command.step, attempt=command.attempt
                )
                delivered.append(out.envelope)
            case Redeliver(pick):
                run.deliver(delivered[pick % len(delivered)]).expect_unchanged()
            case LateReply(pick):
                command = run.commands[pick % len(run.commands)]
                if command in run.outstanding:
                    continue
                kind = reply_types(run.definition, command.step, command.compensation, True)
                out = run.when(
                    fill(kind, run.instance.state), step=command.step, attempt=command.attempt
                )
                out.expect_ignored()
                delivered.append(out.envelope)
            case Advance(seconds):
                kit.advance(timedelta(seconds=seconds))
            case Cancel():
                delivered.append(run.cancel().envelope)
            case DeadLetter(offset):
                delivered.append(run.dead_letter("replies", 0, offset).envelope)
            case Redrive(offset):
                delivered.append(run.redrive("replies", 0, offset).envelope)
    kit.settle()  # the messages stop; only timers fire from here on
    return run


def completion_order(run: SagaRun) -> list[str]:
    """Steps that completed or may have, in the order that became so, per the history alone."""
    timed_out: set[str] = set()
    order: list[str] = []
    for recorded in run.history:
        match recorded:
            case events.StepTimedOut(step=step, compensation=False):
                timed_out.add(step)
            case events.StepSucceeded(step=step) | events.StepAbandoned(step=step):
                order.append(step)
            case events.StepFailed(step=step) if step in timed_out:
                order.append(step)
    return order


def check_invariants(run: SagaRun) -> None:
    history = run.history
    event(f"ends {run.status.value}")  # shown by --hypothesis-show-statistics
    # Replaying the events gives the live state.
    assert replay(run.definition, history) == run.instance

    # Exactly one terminal state once the messages stop, and no timer left behind.
    assert run.status in TERMINAL
    finals = [e for e in history if isinstance(e, TERMINAL_EVENTS)]
    assert len(finals) == 1, finals
    assert not run.instance.timers

    # Compensations: exactly the completed-or-possibly-completed compensable steps, in
    # reverse order of completion (a prefix of it if a compensation failed for good).
    compensable = [s for s in completion_order(run) if run.definition.steps[s].compensation]
    expected = list(reversed(compensable)) if run.instance.compensation_reason else []
    issued: list[str] = []
    for command in run.commands:
        if command.compensation and command.step not in issued:
            issued.append(command.step)
    if run.status is SagaStatus.COMPENSATION_FAILED:
        assert issued == expected[: len(issued)]
    else:
        assert issued == expected

    # No step attempt issues its command under two message ids, nor two attempts under one.
    ids: dict[tuple[str, int, bool], set[str]] = {}
    for e in history:
        if isinstance(e, events.CommandIssued):
            ids.setdefault((e.step, e.attempt, e.compensation), set()).add(e.message_id)
    assert all(len(v) == 1 for v in ids.values())
    assert len({i for v in ids.values() for i in v}) == len(ids)


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(script=actions)
def test_order_fulfilment_invariants(script: list[Action]) -> None:
    check_invariants(play("order", script))


@SETTINGS
@given(script=actions)
def test_trip_booking_invariants(script: list[Action]) -> None:
    check_invariants(play("trip", script))


@settings(max_examples=30, deadline=None)
@given(script=actions)
def test_the_same_messages_always_give_the_same_history(script: list[Action]) -> None:
    assert play("trip", script).history == play("trip", script).history
