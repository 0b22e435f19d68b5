"""Checks a saga class and builds its ``SagaDefinition``: every mistake is reported when the
class is created, naming the class and the step."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._definition import (
    Builder,
    CompensationBuilder,
    CompensationDef,
    SagaDefinition,
    SagaDefinitionError,
    Stage,
    StepDef,
    all_message_types,
)
from orchestrator.saga._policy import RetryPolicy
from orchestrator.saga._steps import Compensation, Parallel, Step
from orchestrator.saga._topics import Topics

if TYPE_CHECKING:
    from orchestrator.saga._saga import Saga

# Names end up in ids, Kafka headers, topic names and metric labels.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

Fail = Callable[..., SagaDefinitionError]


def build_definition(
    cls: type[Saga[Any, Any]], start: object, state: object, *, own_initial_state: bool
) -> SagaDefinition:
    where = cls.__qualname__

    def fail(message: str, step_name: str | None = None) -> SagaDefinitionError:
        prefix = f"saga {where}" + (f", step {step_name!r}" if step_name else "")
        return SagaDefinitionError(f"{prefix}: {message}")

    name = getattr(cls, "name", None) or _CAMEL.sub("_", cls.__name__).lower()
    if not isinstance(name, str) or not NAME.match(name):
        raise fail(f"name {name!r} must match {NAME.pattern}")
    version = cls.version
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail(f"version must be an int >= 1, got {version!r}")
    topics = cls.topics
    if not isinstance(topics, Topics):
        raise fail(f"`topics` must be a Topics mapping, got {topics!r}")
    if not (isinstance(start, type) and issubclass(start, Message)):
        raise fail("the start type (Saga[Start, ...]) must be a Message subclass")
    if not (isinstance(state, type) and issubclass(state, BaseModel)):
        raise fail("the state type (Saga[..., State]) must be a pydantic BaseModel subclass")
    key = getattr(cls, "business_key", None)
    if not isinstance(key, str) or key not in start.model_fields:
        raise fail(f"`business_key` must name a field of {start.__name__}, got {key!r}")
    if state is not start and not own_initial_state:
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
            members: tuple[Step[Any, Any, Any, Any], ...] = (item,)
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
            defs.append(_resolve_step(s, index, state, topics, fail))
        stages.append(Stage(item.name, tuple(defs), parallel=isinstance(item, Parallel)))

    steps = {d.name: d for stage in stages for d in stage.steps}
    try:
        start_topic, reply_topic = topics.start(name), topics.replies(name)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return SagaDefinition(
        saga_class=cls,
        name=name,
        version=version,
        state_type=state,
        start_type=start,
        start_topic=start_topic,
        reply_topic=reply_topic,
        stages=tuple(stages),
        steps=steps,
        message_types=all_message_types(start, list(steps.values())),
    )


def _check_name(name: object, seen: set[str], fail: Fail) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise fail(f"step name {name!r} must match {NAME.pattern}", None)
    if name in seen:
        raise fail("duplicate step name", name)
    seen.add(name)


def _message_types(
    values: tuple[object, ...], what: str, name: str, fail: Fail
) -> tuple[type[Message], ...]:
    for v in values:
        if not (isinstance(v, type) and issubclass(v, Message)):
            raise fail(f"{what} {v!r} is not a Message subclass (no Avro schema)", name)
    return tuple(v for v in values if isinstance(v, type) and issubclass(v, Message))


def _topic(topics: Topics, destination: object, what: str, name: str, fail: Fail) -> str:
    if not isinstance(destination, str) or not NAME.match(destination):
        raise fail(f"`{what}` must be a destination name matching {NAME.pattern}", name)
    try:
        return topics.command(destination)
    except ValueError as exc:
        raise fail(str(exc), name) from None


def _resolve_step(
    s: Step[Any, Any, Any, Any],
    stage: int,
    state: type[BaseModel],
    topics: Topics,
    fail: Fail,
) -> StepDef:
    command = _message_types((s.command,), "command", s.name, fail)[0]
    topic = _topic(topics, s.to, "to", s.name, fail)
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
    for hook, what, arity in (
        (s.on_success, "on_success", 2),
        (s.on_failure, "on_failure", 2),
        (s.when, "when", 1),
    ):
        _check_callable(hook, what, arity, s.name, fail)
    if s.on_failure is not None and not failure:
        raise fail("`on_failure` given but no failure reply type", s.name)
    build = _builder(command, s.build, state=state, what="command", name=s.name, fail=fail)
    compensation = None
    if s.compensate is not None:
        if not isinstance(s.compensate, Compensation):
            raise fail("`compensate` must be a compensation(...)", s.name)
        compensation = _resolve_compensation(
            s, s.compensate, replies=(*success, *failure), state=state, topics=topics, fail=fail
        )
    return StepDef(
        name=s.name,
        stage=stage,
        command=command,
        destination=s.to,
        topic=topic,
        success=success,
        failure=failure,
        timeout=s.timeout,
        retry=s.retry,
        build=build,
        on_success=s.on_success,
        on_failure=s.on_failure,
        compensation=compensation,
        when=s.when,
    )


def _resolve_compensation(
    s: Step[Any, Any, Any, Any],
    c: Compensation[Any, Any, Any],
    *,
    replies: tuple[type[Message], ...],
    state: type[BaseModel],
    topics: Topics,
    fail: Fail,
) -> CompensationDef:
    command = _message_types((c.command,), "compensation command", s.name, fail)[0]
    confirmed = _message_types(c.confirmed, "confirmed reply type", s.name, fail)
    rejected = _message_types(c.rejected, "rejected reply type", s.name, fail)
    if not confirmed:
        raise fail("a compensation needs at least one `confirmed` reply type", s.name)
    # Replies are told apart by type: a type that could answer both the command and its
    # compensation would make a late forward reply look like a compensation outcome.
    clash = (set(confirmed) | set(rejected)) & set(replies)
    if clash or set(confirmed) & set(rejected):
        raise fail(
            "compensation reply types must differ from each other and from the step's", s.name
        )
    timeout = s.timeout if c.timeout is None else c.timeout
    _check_timeout(timeout, "compensation timeout", s.name, fail)
    if not isinstance(c.retry, RetryPolicy):
        raise fail("the compensation's `retry` must be a RetryPolicy", s.name)
    if c.build is not None:
        _check_callable(c.build, "compensation build", 2, s.name, fail)
        build = _reply_builder(
            c.build, command, _message_types(s.success, "", s.name, fail), s.name
        )
    else:
        fill = _builder(command, None, state=state, what="compensation", name=s.name, fail=fail)
        build = _ignoring_reply(fill)
    return CompensationDef(
        command=command,
        topic=_topic(topics, c.to or s.to, "compensation to", s.name, fail),
        success=confirmed,
        failure=rejected,
        timeout=timeout,
        retry=c.retry,
        build=build,
    )


def _check_callable(value: object, what: str, arity: int, name: str, fail: Fail) -> None:
    if value is None:
        return
    if not callable(value):
        raise fail(f"`{what}` must be callable", name)
    try:
        inspect.signature(value).bind(*range(arity))
    except TypeError:
        raise fail(f"`{what}` must take {arity} positional argument(s)", name) from None
    except ValueError:  # no signature to inspect (a builtin): trust it
        return


def _check_timeout(value: object, what: str, name: str, fail: Fail) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise fail(f"`{what}` must be a positive timedelta, got {value!r}", name)


def _builder(
    command: type[Message],
    custom: Callable[[Any], Message] | None,
    *,
    state: type[BaseModel],
    what: str,
    name: str,
    fail: Fail,
) -> Builder:
    if custom is not None:
        _check_callable(custom, f"{what} build", 1, name, fail)
        return _custom_builder(custom, command, name)
    # Filling by field names is allowed only when every field has a source: a field nobody
    # fills would silently go out as its default (None, typically) to a service that needs it.
    sources = set(state.model_fields) | {"saga_id"}
    for field in command.model_fields:
        if field not in sources:
            raise fail(
                f"{what} {command.__name__} cannot be filled from {state.__name__}: field "
                f"{field!r} has no source; add it to the state or pass a build function",
                name,
            )
    from_state = tuple(f for f in command.model_fields if f in state.model_fields)
    wants_saga_id = "saga_id" in command.model_fields and "saga_id" not in state.model_fields

    def build(s: BaseModel, saga_id: str) -> Message:
        values: dict[str, object] = {f: getattr(s, f) for f in from_state}
        if wants_saga_id:
            values["saga_id"] = saga_id
        return command(**values)

    return build


def _custom_builder(custom: Callable[[Any], Message], command: type[Message], name: str) -> Builder:
    def build(s: BaseModel, saga_id: str) -> Message:
        return _checked(custom(s), command, name)

    return build


def _ignoring_reply(fill: Builder) -> CompensationBuilder:
    def build(s: BaseModel, saga_id: str, reply: ev.Received | None) -> Message:
        return fill(s, saga_id)

    return build


def _reply_builder(
    custom: Callable[[Any, Any], Message],
    command: type[Message],
    success: tuple[type[Message], ...],
    name: str,
) -> CompensationBuilder:
    by_name = {t.avro_name: t for t in success}

    def build(s: BaseModel, saga_id: str, reply: ev.Received | None) -> Message:
        decoded = None
        if reply is not None:
            decoded = by_name[reply.message_type].model_validate(reply.payload)
        return _checked(custom(s, decoded), command, name)

    return build


def _checked(message: object, command: type[Message], name: str) -> Message:
    if not isinstance(message, command):
        raise TypeError(
            f"step {name!r}: builder returned {type(message).__name__}, expected {command.__name__}"
        )
    return message
