"""The frozen definition of one saga version, built from its class when the class is created
(see ``_saga`` for the class and ``_validate`` for the checks), and what the decider reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._control import CONTROL_MESSAGES
from orchestrator.saga._policy import RetryPolicy
from orchestrator.saga._steps import StateHook

if TYPE_CHECKING:
    from orchestrator.saga._saga import Saga

# Internal builder signatures: the saga id is available to field-filled commands, and a
# compensation gets the success reply that proved its step ran (None if it only may have).
Builder = Callable[[BaseModel, str], Message]
CompensationBuilder = Callable[[BaseModel, str, "ev.Received | None"], Message]
Condition = Callable[[Any], bool]


class SagaDefinitionError(TypeError):
    """A saga class declaration is invalid; the message names the class and the step."""


@dataclass(frozen=True, slots=True)
class CompensationDef:
    command: type[Message]
    topic: str
    success: tuple[type[Message], ...]
    failure: tuple[type[Message], ...]
    timeout: timedelta
    retry: RetryPolicy
    build: CompensationBuilder


@dataclass(frozen=True, slots=True)
class StepDef:
    name: str
    stage: int
    command: type[Message]
    destination: str
    topic: str
    success: tuple[type[Message], ...]
    failure: tuple[type[Message], ...]
    timeout: timedelta
    retry: RetryPolicy
    build: Builder
    on_success: StateHook | None
    on_failure: StateHook | None
    compensation: CompensationDef | None
    when: Condition | None = None

    def runs_in(self, state: BaseModel) -> bool:
        """Whether this step runs for ``state`` as its stage begins (``when=``)."""
        if self.when is None:
            return True
        verdict = self.when(state)
        if not isinstance(verdict, bool):
            raise TypeError(f"step {self.name!r}: `when` returned {verdict!r}, not a bool")
        return verdict


@dataclass(frozen=True, slots=True)
class Stage:
    """A single step, or a parallel group; stages run one after another."""

    name: str
    steps: tuple[StepDef, ...]
    parallel: bool


@dataclass(frozen=True, eq=False)
class SagaDefinition:
    """Everything the decider needs to know about one version of one saga class."""

    saga_class: type[Saga[Any, Any]]
    name: str
    version: int
    state_type: type[BaseModel]
    start_type: type[Message]
    start_topic: str
    reply_topic: str
    stages: tuple[Stage, ...]
    steps: Mapping[str, StepDef]
    # Every message type the saga sends or receives, by Avro full name (for decoding replays).
    message_types: Mapping[str, type[Message]]

    def business_key(self, start: Message) -> str:
        return self.saga_class.business_key_of(start)

    def initial_state(self, start: Message) -> BaseModel:
        return self.saga_class.initial_state(start)

    @property
    def command_topics(self) -> frozenset[str]:
        topics = {s.topic for s in self.steps.values()}
        topics |= {s.compensation.topic for s in self.steps.values() if s.compensation}
        return frozenset(topics)

    def __repr__(self) -> str:
        return f"<SagaDefinition {self.name} v{self.version}>"


def all_message_types(start: type[Message], steps: Sequence[StepDef]) -> dict[str, type[Message]]:
    types: dict[str, type[Message]] = {m.avro_name: m for m in CONTROL_MESSAGES}
    types[start.avro_name] = start
    for d in steps:
        for m in (d.command, *d.success, *d.failure):
            types[m.avro_name] = m
        if d.compensation:
            for m in (d.compensation.command, *d.compensation.success, *d.compensation.failure):
                types[m.avro_name] = m
    return types
