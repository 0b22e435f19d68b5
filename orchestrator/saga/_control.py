"""The orchestrator's own control messages.

They travel on a saga's reply topic, keyed by saga id, exactly like participants' replies, so
that one consumer sees every input of an instance in order. Their Avro schemas live in
``orchestrator/saga/schemas/``, written from these classes.
"""

from __future__ import annotations

from orchestrator.messages import Long, Message


class TimerFired(Message, avro_name="saga.orchestrator.TimerFired"):
    """A durable timer of a saga came due; produced by the worker's timer poller."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    timer_id: str
    """Deterministic id of the timer, as in TimerScheduled."""
    fire_at: str
    """When the timer was due, ISO-8601 UTC, as in TimerScheduled."""


class CancelSaga(Message, avro_name="saga.orchestrator.CancelSaga"):
    """Operator action: cancel the saga and compensate what completed."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    actor: str
    """Who asked for the action (user name or service account)."""
    reason: str
    """Why the action was taken, in the operator's words."""


class RetryStep(Message, avro_name="saga.orchestrator.RetryStep"):
    """Operator action: run a failed step or failed compensation again."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    step: str
    """Name of the step to retry."""
    actor: str
    """Who asked for the action (user name or service account)."""
    reason: str
    """Why the action was taken, in the operator's words."""


class ResolveSaga(Message, avro_name="saga.orchestrator.ResolveSaga"):
    """Operator action: the saga was settled by hand; close it."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    outcome: str
    """Final status to record: completed, compensated or failed."""
    actor: str
    """Who asked for the action (user name or service account)."""
    reason: str
    """Why the action was taken, in the operator's words."""


class MessageDeadLettered(Message, avro_name="saga.orchestrator.MessageDeadLettered"):
    """A message of the saga was sent to a dead-letter topic; the saga is parked."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    topic: str
    """Topic the message was consumed from."""
    partition: int
    """Partition the message was consumed from."""
    offset: Long
    """Offset of the message in that partition."""
    reason: str
    """Why the message could not be handled (exception class and message)."""


class MessageRedriven(Message, avro_name="saga.orchestrator.MessageRedriven"):
    """A dead-lettered message of the saga was sent back to its topic."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    topic: str
    """Topic the message was originally consumed from."""
    partition: int
    """Original partition of the message."""
    offset: Long
    """Original offset of the message."""
    actor: str
    """Who redrove the message."""


class CommandRefused(Message, avro_name="saga.orchestrator.CommandRefused"):
    """Participant reply: a command to execute a step was not executed because the participant had
    already handled that step's compensation. The orchestrator treats it as a failure of the
    attempt it answers (saga_step and saga_attempt headers)."""

    saga_id: str
    """Id of the saga instance the message is for (also the Kafka key)."""
    step: str
    """Name of the step whose command was refused."""
    reason: str
    """Why, e.g. 'compensated': the step's compensation was handled first."""


CONTROL_MESSAGES: tuple[type[Message], ...] = (
    TimerFired,
    CancelSaga,
    RetryStep,
    ResolveSaga,
    MessageDeadLettered,
    MessageRedriven,
    CommandRefused,
)
