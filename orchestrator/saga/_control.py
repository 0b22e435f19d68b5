"""The orchestrator's own control messages.

They travel on a saga's reply topic, keyed by saga id, exactly like participants' replies, so
that one consumer sees every input of an instance in order. Their Avro schemas live in
``schemas/orchestrator/``.
"""

from __future__ import annotations

from orchestrator.messages import Message


class TimerFired(Message, avro_name="saga.orchestrator.TimerFired"):
    """A durable timer came due; produced by the worker's timer poller."""

    saga_id: str
    timer_id: str
    fire_at: str  # ISO-8601 UTC, as recorded in TimerScheduled


class CancelSaga(Message, avro_name="saga.orchestrator.CancelSaga"):
    """Operator: stop the saga and compensate every step that completed or may have."""

    saga_id: str
    actor: str
    reason: str


class RetryStep(Message, avro_name="saga.orchestrator.RetryStep"):
    """Operator: run a failed step (or a failed compensation) again with a fresh retry budget."""

    saga_id: str
    step: str
    actor: str
    reason: str


class ResolveSaga(Message, avro_name="saga.orchestrator.ResolveSaga"):
    """Operator: the saga was settled by hand; close it with the given outcome.

    ``outcome`` is one of ``completed``, ``compensated`` or ``failed``.
    """

    saga_id: str
    outcome: str
    actor: str
    reason: str


class MessageDeadLettered(Message, avro_name="saga.orchestrator.MessageDeadLettered"):
    """Worker: a message of this saga went to a dead-letter topic; the saga is parked."""

    saga_id: str
    topic: str
    partition: int
    offset: int
    reason: str


class MessageRedriven(Message, avro_name="saga.orchestrator.MessageRedriven"):
    """Worker: a dead-lettered message of this saga was sent back to its topic."""

    saga_id: str
    topic: str
    partition: int
    offset: int
    actor: str


class CommandRefused(Message, avro_name="saga.orchestrator.CommandRefused"):
    """Participant SDK: a command to execute a step was not executed, because the participant
    had already handled that step's compensation (it overtook the command, or the command was
    redelivered late). Sent as the reply to the refused attempt (step and attempt in headers);
    the saga treats it as a failure of that attempt, and ignores it for any other attempt."""

    saga_id: str
    step: str
    reason: str


CONTROL_MESSAGES: tuple[type[Message], ...] = (
    TimerFired,
    CancelSaga,
    RetryStep,
    ResolveSaga,
    MessageDeadLettered,
    MessageRedriven,
    CommandRefused,
)
