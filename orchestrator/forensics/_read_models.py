"""The read models as a fresh fold writes them, and how the stored rows differ from them.

The one place `sagactl audit` calls read-model code: `orchestrator.projections.fold_history`,
the typed fold the worker writes its rows with, so the audit judges the rows by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import pydantic

from event_store import RecordedEvent
from orchestrator.projections import InstanceRow, ReadModelChanges, TimerRow, fold_history
from orchestrator.saga import RegistryError, ReplayError, SagaRegistry

__all__ = [
    "INSTANCE_COLUMNS",
    "TIMER_COLUMNS",
    "FreshRows",
    "InstanceRow",
    "TimerRow",
    "differences",
    "fresh_rows",
]

INSTANCE_COLUMNS: Final = tuple(f.name for f in fields(InstanceRow))
TIMER_COLUMNS: Final = tuple(f.name for f in fields(TimerRow))


@dataclass(frozen=True, slots=True)
class FreshRows:
    instance: InstanceRow | None
    timers: Mapping[str, TimerRow]  # by timer id


def fresh_rows(registry: SagaRegistry, events: Sequence[RecordedEvent]) -> FreshRows | None:
    """The rows a fold starting from nothing writes for this one stream; None when the stream
    cannot be folded with `registry` (the audit names that stream unreadable on its own)."""
    changes = ReadModelChanges()
    try:
        fold_history(changes, registry, events)
    except (RegistryError, ReplayError, ValueError, pydantic.ValidationError):
        return None
    instance = next(iter(changes.instances.values()), None)
    return FreshRows(instance, {timer_id: row for (_, timer_id), row in changes.timers.items()})


def differences(
    fresh: FreshRows, stored: InstanceRow | None, stored_timers: Iterable[TimerRow]
) -> list[str]:
    """What the stored rows of one stream get wrong, one phrase per row (empty: they agree)."""
    found = []
    if fresh.instance != stored:
        found.append(f"saga_instances {_row_difference(fresh.instance, stored, INSTANCE_COLUMNS)}")
    by_id = {row.timer_id: row for row in stored_timers}
    for timer_id in sorted(fresh.timers.keys() | by_id.keys()):
        want, have = fresh.timers.get(timer_id), by_id.get(timer_id)
        if want != have:
            found.append(f"timers {timer_id}: {_row_difference(want, have, TIMER_COLUMNS)}")
    return found


def _row_difference(want: Any, have: Any, columns: Sequence[str]) -> str:
    if have is None:
        return "row missing"
    if want is None:
        return "row present that the fold does not write"
    changed = [
        f"{name} {getattr(have, name)!s} (fold: {getattr(want, name)!s})"
        for name in columns
        if getattr(want, name) != getattr(have, name)
    ]
    return "; ".join(changed)
