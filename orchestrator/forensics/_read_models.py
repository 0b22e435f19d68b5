"""The projections as a fresh fold writes them, and how the stored rows differ from them.

THE ONE PLACE `sagactl audit` calls read-model code: the read models are moving from
``event_store.projections`` to the saga layer (folded by the typed ``evolve``); when they have,
only the import and ``fresh_rows`` below change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from event_store import RecordedEvent
from event_store.projections import ProjectionState
from event_store.projections import SagaInstance as InstanceRow
from event_store.projections import Timer as TimerRow

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


def fresh_rows(events: Sequence[RecordedEvent]) -> FreshRows:
    """The rows a projector starting from nothing would write for this one stream."""
    state = ProjectionState()
    state.apply_all(events)
    instance = next(iter(state.instances.values()), None)
    return FreshRows(instance, {timer_id: row for (_, timer_id), row in state.timers.items()})


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
