"""Handler registrations: which command on which topic runs which handler, and which replies
it may return.

A handler declared for a saga step (``Participant.executes`` / ``compensates``) takes its
command type, topic and allowed replies from the step, so nothing is repeated. Its annotations
are checked when it is registered (a parameter of another command type, a return type the step
does not accept); what it returns is checked on every call, so a reply of a wrong type is a
handler failure (retried, then dead-lettered naming the type), never a reply the saga ignores.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.messages import Message
from orchestrator.saga import Saga, SagaDefinition, StepDef

# The context type is the participant's; handlers are typed against it there.
Handler = Callable[[Any, Any], Message | None]


class HandlerDeclarationError(TypeError):
    """A handler does not fit the step it is declared for; the message names both."""


class WrongReplyError(TypeError):
    """A handler returned a message its step does not accept as a reply."""


@dataclass(frozen=True, slots=True)
class Registration:
    command: type[Message]
    topic: str
    handler: Handler
    # None: any Message (a handler registered for a bare command, not a saga step).
    replies: tuple[type[Message], ...] | None = None
    what: str = ""  # "step reserve_credit of order_fulfilment", for errors

    def run(self, message: Message, context: Any) -> Message | None:
        reply = self.handler(message, context)
        # Exactly one of the step's types: the saga tells replies apart by type, so a subclass
        # (another Avro record) would arrive as an unexpected reply and be ignored.
        if reply is None or self.replies is None or type(reply) in self.replies:
            return reply
        raise WrongReplyError(
            f"{_name(self.handler)} returned {type(reply).__name__}; {self.what} accepts "
            f"{_names(self.replies)} (or None for no reply)"
        )


def step_of(saga: type[Saga], step_name: str) -> tuple[SagaDefinition, StepDef]:
    definition = saga.definition
    step = definition.steps.get(step_name)
    if step is None:
        known = ", ".join(definition.steps)
        raise HandlerDeclarationError(
            f"saga {definition.name} has no step {step_name!r} (its steps: {known})"
        )
    return definition, step


def for_step(
    saga: type[Saga], step_name: str, handler: Handler, *, compensation: bool
) -> Registration:
    """The registration of ``handler`` for a step of ``saga`` (or for its compensation)."""
    definition, step = step_of(saga, step_name)
    if compensation:
        undo = step.compensation
        if undo is None:
            raise HandlerDeclarationError(
                f"step {step_name} of {definition.name} has no compensation to handle"
            )
        command, topic, replies = undo.command, undo.topic, (*undo.success, *undo.failure)
        what = f"the compensation of step {step_name} of {definition.name}"
    else:
        command, topic, replies = step.command, step.topic, (*step.success, *step.failure)
        what = f"step {step_name} of {definition.name}"
    _check_annotations(handler, command, replies, what)
    return Registration(command, topic, handler, replies, what)


def _check_annotations(
    handler: Handler, command: type[Message], replies: tuple[type[Message], ...], what: str
) -> None:
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # noqa: BLE001 - unresolvable annotations: the call-time check still holds
        return
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if params and params[0].name in hints:
        declared = hints[params[0].name]
        if isinstance(declared, type) and not issubclass(command, declared):
            raise HandlerDeclarationError(
                f"{_name(handler)} takes {declared.__name__}, but {what} sends {command.__name__}"
            )
    returned = hints.get("return")
    if returned is None:
        return
    wrong = [
        t
        for t in _members(returned)
        if isinstance(t, type) and issubclass(t, Message) and t is not Message
        if t not in replies
    ]
    if wrong:
        raise HandlerDeclarationError(
            f"{_name(handler)} may return {_names(wrong)}, which {what} does not accept "
            f"(it accepts {_names(replies)})"
        )


def _members(annotation: object) -> tuple[object, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _names(kinds: typing.Iterable[type]) -> str:
    return ", ".join(k.__name__ for k in kinds)
