"""The ``Saga`` base class: what a saga author subclasses."""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Self

from pydantic import BaseModel
from typing_extensions import TypeVar

from orchestrator.messages import Message
from orchestrator.saga._definition import SagaDefinition, SagaDefinitionError
from orchestrator.saga._steps import Parallel, Step, StepOf
from orchestrator.saga._topics import DEFAULT_TOPICS, Topics
from orchestrator.saga._validate import build_definition

# A bare ``Saga`` (in ``type[Saga]``, for code that takes any saga class) is ``Saga[Any, Any]``.
StartT = TypeVar("StartT", bound=Message, default=Any)
# ``Saga[Start]``: the state is the start command itself, for sagas that keep nothing else.
StateT = TypeVar("StateT", bound=BaseModel, default=StartT)
AnyStep = Step[Any, Any, Any, Any]


class Saga(Generic[StartT, StateT]):
    """Base class of saga definitions: ``class OrderFulfilment(Saga[PlaceOrder, OrderState])``.

    ``name`` defaults to the class name in snake_case (and is inherited, so a subclass with a
    higher ``version`` is a new version of the same saga); ``topics`` maps the steps'
    destinations and the saga's start and reply topics (``<name>.start``, ``<name>.replies``)
    to Kafka topics. Pass ``abstract=True`` as a class keyword for an intermediate base class
    that is not a saga itself.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    business_key: ClassVar[str]
    # Not a ClassVar, so that mypy reads it with the subclass's state type: the declared type
    # is the inference context of ``steps = (...)``, and a hook of another state is an error.
    steps: Sequence[StepOf[StateT]]
    topics: ClassVar[Topics] = DEFAULT_TOPICS
    start_topic: ClassVar[str]
    reply_topic: ClassVar[str]
    definition: ClassVar[SagaDefinition]

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not abstract:
            start, state = _type_arguments(cls)
            own_initial_state = cls.initial_state.__func__ is not Saga.initial_state.__func__  # type: ignore[attr-defined]
            cls.definition = build_definition(
                cls, start, state, own_initial_state=own_initial_state
            )
            cls.name = cls.definition.name
            cls.start_topic = cls.definition.start_topic
            cls.reply_topic = cls.definition.reply_topic

    @classmethod
    def business_key_of(cls, start: Message) -> str:
        """The business key of a start command: the field named by ``business_key``."""
        return str(getattr(start, cls.business_key))

    @classmethod
    def initial_state(cls, start: Message) -> BaseModel:
        """State for a new instance: state fields copied from start fields of the same name
        (the start command itself for a ``Saga[Start]``)."""
        state = cls.definition.state_type
        if state is cls.definition.start_type:
            return start
        fields = state.model_fields
        return state(**{k: v for k, v in start if k in fields})

    @classmethod
    def variant(
        cls,
        *,
        name: str | None = None,
        topics: Topics | None = None,
        adjust: Callable[[AnyStep], AnyStep] | None = None,
    ) -> type[Self]:
        """This saga under another name, on other topics, or with every step passed through
        ``adjust`` (``dataclasses.replace`` of a timeout, say): tests and benchmarks run the
        same saga isolated from everyone else's so."""
        declared: Sequence[object] = getattr(cls, "steps", ())
        steps: list[object] = []
        for item in declared:
            if adjust is not None and isinstance(item, Step):
                steps.append(adjust(item))
            elif adjust is not None and isinstance(item, Parallel):
                steps.append(Parallel(item.name, tuple(adjust(s) for s in item.steps)))
            else:
                steps.append(item)
        body: dict[str, object] = {"__module__": cls.__module__, "steps": tuple(steps)}
        if name is not None:
            body["name"] = name
        if topics is not None:
            body["topics"] = topics
        return type(f"{cls.__name__}_{name or 'variant'}", (cls,), body)


def _type_arguments(saga: type[Saga[Any, Any]]) -> tuple[object, object]:
    """(start type, state type) from the nearest ``Saga[Start, State]`` base of ``saga``."""
    for klass in saga.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is Saga:
                start, state = typing.get_args(base)
                if isinstance(state, typing.TypeVar | TypeVar):  # Saga[Start]: the start type
                    state = start
                return start, state
    raise SagaDefinitionError(
        f"saga {saga.__qualname__}: subclass Saga[Start] or Saga[Start, State], "
        "naming the start command and the state model"
    )
