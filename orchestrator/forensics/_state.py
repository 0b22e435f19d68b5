"""A saga's state at any point of its stream, and what changed between two points.

State at a point is the live fold (``SagaRegistry.replay`` / ``evolve``) of the events up to
that point; nothing here reads an event's fields to decide what it changed. The diff compares
the folded instances, and names the events that changed each field by folding one event at a
time between the two points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from operator import attrgetter
from typing import Any

from pydantic import BaseModel

from event_store import RecordedEvent
from orchestrator.forensics._history import History, PointError
from orchestrator.saga import SagaInstance, SagaRegistry, evolve, replay

# Fields of SagaInstance shown differently from their value. `handled` (the ids of every
# message decided on) grows with every decision: it is shown as a count, the ids themselves are
# the timeline's message ids. `version` is the point itself, not a change worth reporting.
_SUMMARISED = {"handled": "handled_messages"}
_NOT_DIFFED = frozenset({"version"})


def state_at(registry: SagaRegistry, history: History) -> SagaInstance:
    """The instance the live worker had after the last event of ``history``: the same fold
    (``replay`` with the definition version the saga started on)."""
    if not history.events:
        raise PointError("no events to fold")
    instance = replay(registry.for_history(history.events), history.events)
    assert instance is not None  # a non-empty history folds to an instance, or raises
    return instance


def describe(instance: SagaInstance) -> dict[str, Any]:
    """Every field of the instance as JSON values (nested dicts), business state under
    ``state``, plus the lifecycle operators see. Generic over the dataclass fields, so a field
    added to SagaInstance shows up here without a change."""
    described: dict[str, Any] = {"lifecycle": instance.lifecycle}
    for f in dataclasses.fields(instance):
        described[_SUMMARISED.get(f.name, f.name)] = _value(f.name, getattr(instance, f.name))
    return described


def _value(name: str, value: Any) -> Any:
    return len(value) if name in _SUMMARISED else _json(value)


def flatten(described: Mapping[str, Any], *, keep_empty: bool = True) -> dict[str, Any]:
    """Nested dicts as dotted paths (``steps.reserve_credit.status``); lists stay values.
    ``keep_empty=False`` drops empty dicts, so that a diff reports a new timer under its own
    path (``timers.<id>``) rather than ``timers`` itself changing from ``{}``."""
    return {".".join(keys): v for keys, v in _leaves(described, (), keep_empty).items()}


Path = tuple[str, ...]


def _leaves(described: Mapping[str, Any], prefix: Path, keep_empty: bool) -> dict[Path, Any]:
    flat: dict[Path, Any] = {}
    for key, value in described.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            flat.update(_leaves(value, path, keep_empty))
        elif keep_empty or not isinstance(value, Mapping):
            flat[path] = value
    return flat


@dataclass(frozen=True, slots=True)
class Cause:
    position: int
    version: int
    event: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # dotted path
    before: Any  # None when the field did not exist at the earlier point (a new timer, say)
    after: Any
    caused_by: tuple[Cause, ...]  # the events between the points that changed this field

    def as_row(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "from": self.before,
            "to": self.after,
            "events": [dataclasses.asdict(c) for c in self.caused_by],
        }


@dataclass(frozen=True, slots=True)
class StateDiff:
    saga_id: str
    from_version: int
    to_version: int
    changes: tuple[FieldChange, ...]


def diff(registry: SagaRegistry, history: History, from_version: int, to_version: int) -> StateDiff:
    """What changed from the state at ``from_version`` to the state at ``to_version``."""
    if from_version > to_version:
        raise PointError(f"from version {from_version} is after to version {to_version}")
    upto = history.until_version(to_version)
    history.until_version(from_version)  # only to refuse a version outside the stream
    definition = registry.for_history(upto.events)
    instance = replay(definition, upto.events[:from_version])
    assert instance is not None  # from_version >= 1
    # Every instance between the points: they share whatever an event left unchanged, so the
    # list costs little, and the events can be blamed once the net changes are known.
    instances = [instance]
    for event in upto.events[from_version:]:
        instance = evolve(definition, instance, event)
        instances.append(instance)
    described_before, described_after = describe(instances[0]), describe(instances[-1])
    before = _leaves(described_before, (), keep_empty=False)
    after = _leaves(described_after, (), keep_empty=False)
    changed = sorted(
        path
        for path in before.keys() | after.keys()
        if path[0] not in _NOT_DIFFED
        and (path not in before or path not in after or before[path] != after[path])
    )
    causes = _causes(changed, instances, upto.recorded[from_version:])
    changes = _collapsed(changed, causes, described_before, described_after)
    return StateDiff(upto.recorded[0].stream_id, from_version, to_version, changes)


def _collapsed(
    changed: list[Path],
    causes: dict[Path, list[Cause]],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> tuple[FieldChange, ...]:
    """One change per record that came or went (a timer scheduled, a timer closed), with the
    record as its value, instead of one per field of it; field by field everywhere else."""
    merged: dict[Path, list[Cause]] = {}
    for path in changed:
        merged.setdefault(_record_root(path, before, after), []).extend(causes[path])
    return tuple(
        FieldChange(
            ".".join(path),
            _subtree(before, path),
            _subtree(after, path),
            tuple(sorted(set(found), key=lambda c: c.version)),
        )
        for path, found in merged.items()
    )


def _record_root(path: Path, before: Mapping[str, Any], after: Mapping[str, Any]) -> Path:
    """The shortest prefix of ``path`` (below the top-level field) absent on one side."""
    for end in range(2, len(path)):
        prefix = path[:end]
        if _subtree(before, prefix) is None or _subtree(after, prefix) is None:
            return prefix
    return path


def _subtree(described: Mapping[str, Any], path: Path) -> Any:
    value: Any = described
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _causes(
    changed: list[Path], instances: list[SagaInstance], recorded: Sequence[RecordedEvent]
) -> dict[Path, list[Cause]]:
    """For each changed path, the events after which its value differed from before them.

    Only the fields that hold a changed path are looked at, and only when the event replaced
    them (evolve keeps an unchanged field as the very same object): a diff over a thousand
    events costs a few milliseconds beyond the fold."""
    by_field: dict[str, list[Path]] = {}
    for path in changed:
        by_field.setdefault(_ATTRIBUTE.get(path[0], path[0]), []).append(path)
    causes: dict[Path, list[Cause]] = {path: [] for path in changed}
    for name, paths in by_field.items():
        getters = [_getter(path) for path in paths]
        held = instances[0]
        values = [get(held) for get in getters]
        for raw, instance in zip(recorded, instances[1:], strict=True):
            if _unchanged(name, held, instance):
                continue
            held, before, values = instance, values, [get(instance) for get in getters]
            for path, old, new in zip(paths, before, values, strict=True):
                if old != new:
                    causes[path].append(Cause(raw.position, raw.version, raw.event_type))
    return causes


def _getter(path: Path) -> Callable[[SagaInstance], Any]:
    """``_at(instance, path)`` for one path, the common shapes spelt out once (the blame asks
    it for every event that replaced the field: thousands of times in a long diff)."""
    head = path[0]
    if len(path) == 1 and head not in _ATTRIBUTE:
        return attrgetter(head)
    if len(path) == 3 and head == "steps":
        step, name = path[1], path[2]

        def step_field(instance: SagaInstance) -> Any:
            state = instance.steps.get(step)
            return _MISSING if state is None else getattr(state, name, _MISSING)

        return step_field
    return lambda instance: _at(instance, path)


# Shown names that are not attributes: the lifecycle is derived from status and parked.
_ATTRIBUTE = {"lifecycle": "lifecycle", **{shown: name for name, shown in _SUMMARISED.items()}}


def _unchanged(name: str, old: SagaInstance, new: SagaInstance) -> bool:
    """Whether evolve left the attribute ``name`` as the very same object."""
    if name == "lifecycle":
        return old.status is new.status and old.parked is new.parked
    return getattr(old, name) is getattr(new, name)


def _at(instance: SagaInstance, path: Path) -> Any:
    """The value a shown path has in the instance, compared as stored (enums, tuples...)."""
    head = path[0]
    if head == "lifecycle":
        return instance.lifecycle
    if head in _ATTRIBUTE:
        return len(getattr(instance, _ATTRIBUTE[head]))
    value = getattr(instance, head)
    for key in path[1:]:
        if isinstance(value, (dict, Mapping)):  # dict first: the ABC's check is slower
            value = value.get(key, _MISSING)
        elif isinstance(value, BaseModel) or _is_record(value):
            value = getattr(value, key, _MISSING)
        else:
            return _MISSING
    return value


_MISSING: Any = object()


# Statuses are StrEnums, hence str: shown as they are.
_SCALARS = (str, int, float, type(None))


def _is_record(value: Any) -> bool:
    """A dataclass instance (StepState, PendingTimer...). Asked once per type: for enums and
    pydantic models the question goes through their metaclass's __getattr__, slowly."""
    kind = type(value)
    known = _RECORD_TYPES.get(kind)
    if known is None:
        known = _RECORD_TYPES[kind] = dataclasses.is_dataclass(kind)
    return known


_RECORD_TYPES: dict[type, bool] = {}


def _json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if _is_record(value):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((_json(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    return value
