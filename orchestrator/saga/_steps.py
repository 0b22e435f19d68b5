"""What a saga author writes in a class body: ``step(...)``, ``compensation(...)``, ``parallel``.

Everything here is generic over the saga's state ``S``, the step's command ``C``, its success
replies ``R`` and failure replies ``F``, so mypy checks what an author writes: a hook is a
``Callable[[S, R], S]``, a builder returns the step's command, a compensation built from the
reply that proved the step ran receives ``R | None``. Inside ``steps = (...)`` of a
``Saga[Start, State]`` subclass mypy takes ``S`` from the saga (the attribute's declared type is
the inference context), so even a lambda's parameters are typed.

Nothing is validated here: a mistake must be reported with the saga class's name, which only
``Saga.__init_subclass__`` knows (see ``_definition``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Never, TypeVar, overload

from pydantic import BaseModel
from typing_extensions import TypeVar as TypeVarWithDefault

from orchestrator.messages import Message
from orchestrator.saga._policy import RetryPolicy

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=Message)
R = TypeVar("R", bound=Message)
# A step without failure replies has none: Never, not a type mypy asks the author to spell.
F = TypeVarWithDefault("F", bound=Message, default=Never)
K = TypeVar("K", bound=Message)
A = TypeVar("A", bound=Message)
B = TypeVar("B", bound=Message)
D = TypeVar("D", bound=Message)

# A hook once its types are erased: how the decider and the fold call it.
StateHook = Callable[[Any, Any], BaseModel]

DEFAULT_RETRY = RetryPolicy()
# Compensations must eventually succeed, so they get a longer budget by default.
DEFAULT_COMPENSATION_RETRY = RetryPolicy(max_attempts=5)


@dataclass(frozen=True, slots=True)
class Replies(Generic[R]):
    """Several reply types meaning the same outcome; ``R`` is their union (see :func:`either`)."""

    types: tuple[type[Message], ...]


@overload
def either(first: type[A], second: type[B], /) -> Replies[A | B]: ...
@overload
def either(first: type[A], second: type[B], third: type[D], /) -> Replies[A | B | D]: ...
def either(*types: type[Message]) -> Replies[Any]:
    """Reply types of one outcome: ``success=either(Booked, Waitlisted)``; a hook for it takes
    ``Booked | Waitlisted``."""
    return Replies(tuple(types))


ReplySpec = type[R] | Replies[R]


def reply_types(spec: object) -> tuple[object, ...]:
    """The reply types of a ``success=``/``failure=`` argument, as given (checked later)."""
    if spec is None:
        return ()
    if isinstance(spec, Replies):
        return tuple(spec.types)
    return (spec,)


class StepOf(Generic[S]):
    """A step or parallel group of a saga whose state is ``S``: what ``Saga.steps`` holds."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Compensation(Generic[S, R, K]):
    """How a step is undone; see :func:`compensation`."""

    command: type[K]
    confirmed: tuple[object, ...]
    rejected: tuple[object, ...]
    build: Callable[[S, R | None], K] | None
    to: str | None
    timeout: timedelta | None
    retry: RetryPolicy


def compensation(
    command: type[K],
    *,
    confirmed: ReplySpec[Message],
    rejected: ReplySpec[Message] | None = None,
    build: Callable[[S, R | None], K] | None = None,
    to: str | None = None,
    timeout: timedelta | None = None,
    retry: RetryPolicy = DEFAULT_COMPENSATION_RETRY,
) -> Compensation[S, R, K]:
    """Undo a step with ``command``, sent to destination ``to`` (default: the step's).

    ``confirmed`` replies end the compensation; ``rejected`` replies and timeouts retry it per
    ``retry``. The command is filled from the state fields of the same names, or built by
    ``build(state, reply)`` where ``reply`` is the success reply that proved the step ran, or
    None when the step only may have run (it timed out or was abandoned in flight).
    """
    return Compensation(
        command=command,
        confirmed=reply_types(confirmed),
        rejected=reply_types(rejected),
        build=build,
        to=to,
        timeout=timeout,
        retry=retry,
    )


@dataclass(frozen=True, slots=True)
class Step(StepOf[S], Generic[S, C, R, F]):
    """One step as declared; see :func:`step` for the meaning of each field."""

    name: str
    command: type[C]
    to: str
    success: tuple[object, ...]
    failure: tuple[object, ...]
    timeout: timedelta
    retry: RetryPolicy
    build: Callable[[S], C] | None
    on_success: Callable[[S, R], S] | None
    on_failure: Callable[[S, F], S] | None
    compensate: Compensation[S, R, Any] | None
    when: Callable[[S], bool] | None


def step(
    name: str,
    command: type[C],
    *,
    to: str,
    success: ReplySpec[R],
    failure: ReplySpec[F] | None = None,
    timeout: timedelta,
    retry: RetryPolicy = DEFAULT_RETRY,
    build: Callable[[S], C] | None = None,
    on_success: Callable[[S, R], S] | None = None,
    on_failure: Callable[[S, F], S] | None = None,
    compensate: Compensation[S, R, Any] | None = None,
    when: Callable[[S], bool] | None = None,
) -> Step[S, C, R, F]:
    """Declare a step.

    ``command`` goes to the logical destination ``to`` (a topic by the saga's ``topics``
    mapping: ``credit`` is ``credit.commands`` by default). It is filled from the state fields
    of the same names (and ``saga_id``) when every field has one, else ``build(state)`` makes
    it. A ``success`` reply completes the step (``on_success(state, reply)`` may update the
    state); a ``failure`` reply fails it (``on_failure``). No reply within ``timeout`` retries
    per ``retry``; when the attempts run out the step counts as possibly executed. ``when``
    makes the step conditional: decided from the state as its stage begins, so replaying the
    same history decides the same; a step skipped so is neither run nor compensated.
    """
    return Step(
        name=name,
        command=command,
        to=to,
        success=reply_types(success),
        failure=reply_types(failure),
        timeout=timeout,
        retry=retry,
        build=build,
        on_success=on_success,
        on_failure=on_failure,
        compensate=compensate,
        when=when,
    )


@dataclass(frozen=True, slots=True)
class Parallel(StepOf[S]):
    """Steps started together (fan-out); the group completes when all succeed (fan-in) and
    fails as soon as one fails (fail fast)."""

    name: str
    steps: tuple[Step[S, Any, Any, Any], ...]


def parallel(name: str, *steps: Step[S, Any, Any, Any]) -> Parallel[S]:
    """Declare a group of steps that run in parallel (fan-out, fan-in, fail fast)."""
    return Parallel(name=name, steps=tuple(steps))
