"""What a saga author writes in a class body: ``step(...)`` and ``parallel(...)``.

These are plain declarations; nothing is checked here because a mistake must be reported with
the saga class's name, which only ``Saga.__init_subclass__`` knows (see ``_definition``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from orchestrator.messages import Message
from orchestrator.saga._policy import RetryPolicy

# Hooks receive the saga's typed state and the reply; authors annotate them precisely
# (``def on_reserved(state: OrderState, reply: CreditReserved) -> OrderState``), which is
# compatible with these ``Any`` parameters.
StateHook = Callable[[Any, Any], BaseModel]
CommandBuilder = Callable[[Any], Message]
ReplyTypes = type[Message] | Sequence[type[Message]]

DEFAULT_RETRY = RetryPolicy()
# Compensations must eventually succeed, so they get a longer budget by default.
DEFAULT_COMPENSATION_RETRY = RetryPolicy(max_attempts=5)


@dataclass(frozen=True, slots=True)
class Step:
    """One step as declared; see :func:`step` for the meaning of each field."""

    name: str
    command: object
    topic: str
    success: tuple[object, ...]
    failure: tuple[object, ...]
    timeout: timedelta
    retry: RetryPolicy
    build: CommandBuilder | None
    on_success: StateHook | None
    on_failure: StateHook | None
    compensate: object
    compensation_topic: str | None
    compensated: tuple[object, ...]
    compensation_failed: tuple[object, ...]
    build_compensation: CommandBuilder | None
    compensation_timeout: timedelta | None
    compensation_retry: RetryPolicy


@dataclass(frozen=True, slots=True)
class Parallel:
    """Steps started together (fan-out); the group completes when all succeed (fan-in) and
    fails as soon as one fails (fail fast)."""

    name: str
    steps: tuple[Step, ...]


def _types(value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def step(
    name: str,
    command: type[Message],
    *,
    topic: str,
    success: ReplyTypes,
    failure: ReplyTypes = (),
    timeout: timedelta,
    retry: RetryPolicy = DEFAULT_RETRY,
    build: CommandBuilder | None = None,
    on_success: StateHook | None = None,
    on_failure: StateHook | None = None,
    compensate: type[Message] | str | None = None,
    compensation_topic: str | None = None,
    compensated: ReplyTypes = (),
    compensation_failed: ReplyTypes = (),
    build_compensation: CommandBuilder | None = None,
    compensation_timeout: timedelta | None = None,
    compensation_retry: RetryPolicy = DEFAULT_COMPENSATION_RETRY,
) -> Step:
    """Declare a step.

    ``command`` is sent to ``topic``; by default it is built from the state fields of the same
    names (and ``saga_id``), or by ``build(state)``. A reply of a ``success`` type completes the
    step (``on_success(state, reply)`` may update the state); a ``failure`` type fails it
    (``on_failure``). No reply within ``timeout`` retries per ``retry``; when the attempts run
    out the step counts as possibly executed. ``compensate`` (a Message class or its Avro full
    name) undoes the step, sent to ``compensation_topic`` (default ``topic``); ``compensated``
    replies confirm it, ``compensation_failed`` replies and timeouts retry it per
    ``compensation_retry``.
    """
    return Step(
        name=name,
        command=command,
        topic=topic,
        success=_types(success),
        failure=_types(failure),
        timeout=timeout,
        retry=retry,
        build=build,
        on_success=on_success,
        on_failure=on_failure,
        compensate=compensate,
        compensation_topic=compensation_topic,
        compensated=_types(compensated),
        compensation_failed=_types(compensation_failed),
        build_compensation=build_compensation,
        compensation_timeout=compensation_timeout,
        compensation_retry=compensation_retry,
    )


def parallel(name: str, *steps: Step) -> Parallel:
    """Declare a group of steps that run in parallel (fan-out, fan-in, fail fast)."""
    return Parallel(name=name, steps=tuple(steps))
