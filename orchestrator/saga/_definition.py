"""The ``Saga`` base class and the frozen definition built from it when the class is created.

Like temporalio's ``@workflow.defn``, every mistake a saga author can make in the declaration
is reported at import time, naming the class and the step, rather than when the first order
arrives in production.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from orchestrator.messages import Message, message_class
from orchestrator.saga._control import CONTROL_MESSAGES
from orchestrator.saga._policy import RetryPolicy
from orchestrator.saga._steps import CommandBuilder, Parallel, StateHook, Step

# Names end up in ids, Kafka headers, topic names and metric labels.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

# Internal builder signature: the saga id is available to default builders, not to authors'.
Builder = Callable[[BaseModel, str], Message]


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
    build: Builder


@dataclass(frozen=True, slots=True)
class StepDef:
    name: str
    stage: int
    command: type[Message]
    topic: str
    success: tuple[type[Message], ...]
    failure: tuple[type[Message], ...]
    timeout: timedelta
    retry: RetryPolicy
    build: Builder
    on_success: StateHook | None
    on_failure: StateHook | None
    compensation: CompensationDef | None


@dataclass(frozen=True, slots=True)
class Stage:
    """A single step, or a parallel group; stages run one after another."""

    name: str
    steps: tuple[StepDef, ...]
    parallel: bool


@dataclass(frozen=True, eq=False)
class SagaDefinition:
    """Everything the decider needs to know about one version of one saga class."""

    saga_class: type[Saga]
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


class Saga:
    """Base class of saga definitions. Subclass it, declare the class attributes, done.

    ``name`` defaults to the class name in snake_case (and is inherited, so a subclass with a
    higher ``version`` is a new version of the same saga); ``start_topic`` and ``reply_topic``
    default to ``<name>.start`` and ``<name>.replies``. Pass ``abstract=True`` as a class
    keyword for an intermediate base class that is not a saga itself.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    state: ClassVar[type[BaseModel]]
    start: ClassVar[type[Message]]
    business_key: ClassVar[str]
    steps: ClassVar[Sequence[Step | Parallel]]
    start_topic: ClassVar[str]
    reply_topic: ClassVar[str]
    definition: ClassVar[SagaDefinition]

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not abstract:
            cls.definition = _build_definition(cls)

    @classmethod
    def business_key_of(cls, start: Message) -> str:
        """The business key of a start command: the field named by ``business_key``."""
        return str(getattr(start, cls.business_key))

    @classmethod
    def initial_state(cls, start: Message) -> BaseModel:
        """State for a new instance: state fields copied from start fields of the same name."""
        fields = cls.state.model_fields
        return cls.state(**{k: v for k, v in start if k in fields})


# ---------------------------------------------------------------------------------------------
# Validation


def _build_definition(cls: type[Saga]) -> SagaDefinition:
    where = cls.__qualname__

    def fail(message: str, step_name: str | None = None) -> SagaDefinitionError:
        prefix = f"saga {where}" + (f", step {step_name!r}" if step_name else "")
        return SagaDefinitionError(f"{prefix}: {message}")

    name = getattr(cls, "name", None) or _CAMEL.sub("_", cls.__name__).lower()
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(f"name {name!r} must match {_NAME.pattern}")
    cls.name = name
    cls.start_topic = getattr(cls, "start_topic", None) or f"{name}.start"
    cls.reply_topic = getattr(cls, "reply_topic", None) or f"{name}.replies"
    version = cls.version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail(f"version must be an int >= 1, got {version!r}")

    state = getattr(cls, "state", None)
    if not (isinstance(state, type) and issubclass(state, BaseModel)):
        raise fail("`state` must be a pydantic BaseModel subclass")
    start = getattr(cls, "start", None)
    if not (isinstance(start, type) and issubclass(start, Message)):
        raise fail("`start` must be a Message subclass (a message type with an Avro schema)")
    key = getattr(cls, "business_key", None)
    if not isinstance(key, str) or key not in start.model_fields:
        raise fail(f"`business_key` must name a field of {start.__name__}, got {key!r}")
    if cls.initial_state.__func__ is Saga.initial_state.__func__:  # type: ignore[attr-defined]
        missing = [
            f
            for f, info in state.model_fields.items()
            if info.is_required() and f not in start.model_fields
        ]
        if missing:
            raise fail(
                f"state fields {missing} are required but not fields of {start.__name__}; "
                "give them defaults or override initial_state()"
            )

    declared = getattr(cls, "steps", None)
    if not isinstance(declared, (list, tuple)) or not declared:
        raise fail("`steps` must be a non-empty list of step(...) and parallel(...)")

    seen: set[str] = set()
    stages: list[Stage] = []
    for index, item in enumerate(declared):
        if isinstance(item, Step):
            members: tuple[Step, ...] = (item,)
        elif isinstance(item, Parallel):
            if not item.steps or not all(isinstance(s, Step) for s in item.steps):
                raise fail("a parallel group holds one or more step(...), nothing else", item.name)
            _check_name(item.name, seen, fail)
            members = item.steps
        else:
            raise fail(f"steps[{index}] is {item!r}, not a step(...) or parallel(...)")
        defs = []
        for s in members:
            _check_name(s.name, seen, fail)
            defs.append(_resolve_step(s, index, state, fail))
        stage_name = item.name
        stages.append(Stage(stage_name, tuple(defs), parallel=isinstance(item, Parallel)))

    steps = {d.name: d for stage in stages for d in stage.steps}
    types: dict[str, type[Message]] = {m.avro_name: m for m in CONTROL_MESSAGES}
    types[start.avro_name] = start
    for d in steps.values():
        for m in (d.command, *d.success, *d.failure):
            types[m.avro_name] = m
        if d.compensation:
            for m in (d.compensation.command, *d.compensation.success, *d.compensation.failure):
                types[m.avro_name] = m
    return SagaDefinition(
        saga_class=cls,
        name=name,
        version=version,
        state_type=state,
        start_type=start,
        start_topic=cls.start_topic,
        reply_topic=cls.reply_topic,
        stages=tuple(stages),
        steps=steps,
        message_types=types,
    )


def _check_name(
    name: object, seen: set[str], fail: Callable[[str, str | None], SagaDefinitionError]
) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(f"step name {name!r} must match {_NAME.pattern}", None)
    if name in seen:
        raise fail("duplicate step name", name)
    seen.add(name)


def _message_types(
    values: tuple[object, ...], what: str, name: str, fail: Callable[..., SagaDefinitionError]
) -> tuple[type[Message], ...]:
    for v in values:
        if not (isinstance(v, type) and issubclass(v, Message)):
            raise fail(f"{what} {v!r} is not a Message subclass (no Avro schema)", name)
    return tuple(v for v in values if isinstance(v, type) and issubclass(v, Message))


def _resolve_step(
    s: Step, stage: int, state: type[BaseModel], fail: Callable[..., SagaDefinitionError]
) -> StepDef:
    command = _message_types((s.command,), "command", s.name, fail)[0]
    if not isinstance(s.topic, str) or not s.topic:
        raise fail("`topic` must be a non-empty string", s.name)
    success = _message_types(s.success, "success reply type", s.name, fail)
    failure = _message_types(s.failure, "failure reply type", s.name, fail)
    if not success:
        raise fail("a step needs at least one success reply type", s.name)
    overlap = set(success) & set(failure)
    if overlap:
        raise fail(
            f"reply types {sorted(t.__name__ for t in overlap)} mean both success and failure",
            s.name,
        )
    _check_timeout(s.timeout, "timeout", s.name, fail)
    if not isinstance(s.retry, RetryPolicy):
        raise fail("`retry` must be a RetryPolicy", s.name)
    build = _builder(command, s.build, state=state, what="command", name=s.name, fail=fail)

    compensation = None
    if s.compensate is None:
        if s.compensated or s.compensation_failed or s.build_compensation:
            raise fail("compensation replies or builder given without `compensate`", s.name)
    else:
        comp_cmd = _compensation_command(s.compensate, s.name, fail)
        comp_ok = _message_types(s.compensated, "compensated reply type", s.name, fail)
        comp_bad = _message_types(
            s.compensation_failed, "compensation_failed reply type", s.name, fail
        )
        if not comp_ok:
            raise fail("`compensate` needs at least one `compensated` reply type", s.name)
        # Replies are told apart by type: a type that could answer both the command and its
        # compensation would make a late forward reply look like a compensation outcome.
        clash = (set(comp_ok) | set(comp_bad)) & (set(success) | set(failure))
        if clash or set(comp_ok) & set(comp_bad):
            raise fail(
                "compensation reply types must differ from each other and from the step's", s.name
            )
        comp_timeout = s.compensation_timeout or s.timeout
        _check_timeout(comp_timeout, "compensation_timeout", s.name, fail)
        compensation = CompensationDef(
            command=comp_cmd,
            topic=s.compensation_topic or s.topic,
            success=comp_ok,
            failure=comp_bad,
            timeout=comp_timeout,
            retry=s.compensation_retry,
            build=_builder(
                comp_cmd,
                s.build_compensation,
                state=state,
                what="compensation",
                name=s.name,
                fail=fail,
            ),
        )
    return StepDef(
        name=s.name,
        stage=stage,
        command=command,
        topic=s.topic,
        success=success,
        failure=failure,
        timeout=s.timeout,
        retry=s.retry,
        build=build,
        on_success=s.on_success,
        on_failure=s.on_failure,
        compensation=compensation,
    )


def _compensation_command(
    value: object, name: str, fail: Callable[..., SagaDefinitionError]
) -> type[Message]:
    if isinstance(value, str):
        try:
            return message_class(value)
        except LookupError:
            raise fail(f"compensation refers to unknown command {value!r}", name) from None
    if isinstance(value, type) and issubclass(value, Message):
        return value
    raise fail(f"compensation refers to unknown command {value!r} (not a Message subclass)", name)


def _check_timeout(
    value: object, what: str, name: str, fail: Callable[..., SagaDefinitionError]
) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise fail(f"`{what}` must be a positive timedelta, got {value!r}", name)


def _builder(
    command: type[Message],
    custom: CommandBuilder | None,
    *,
    state: type[BaseModel],
    what: str,
    name: str,
    fail: Callable[..., SagaDefinitionError],
) -> Builder:
    if custom is not None:
        if not callable(custom):
            raise fail(f"the {what} builder must be callable", name)
        return _custom_builder(custom, command, name)
    fields = command.model_fields
    missing = [
        f
        for f, info in fields.items()
        if info.is_required() and f not in state.model_fields and f != "saga_id"
    ]
    if missing:
        raise fail(
            f"{what} {command.__name__} needs fields {missing} that {state.__name__} lacks; "
            f"add them to the state or pass a builder",
            name,
        )
    from_state = tuple(f for f in fields if f in state.model_fields)
    wants_saga_id = "saga_id" in fields and "saga_id" not in state.model_fields

    def build(s: BaseModel, saga_id: str) -> Message:
        values: dict[str, object] = {f: getattr(s, f) for f in from_state}
        if wants_saga_id:
            values["saga_id"] = saga_id
        return command(**values)

    return build


def _custom_builder(custom: CommandBuilder, command: type[Message], name: str) -> Builder:
    def build(s: BaseModel, saga_id: str) -> Message:
        message = custom(s)
        if not isinstance(message, command):
            raise TypeError(
                f"step {name!r}: builder returned {type(message).__name__}, "
                f"expected {command.__name__}"
            )
        return message

    return build
