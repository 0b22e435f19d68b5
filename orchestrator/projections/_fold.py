"""The read models as a function of the typed fold: rows from consecutive saga states. Pure.

`saga_instances` and `timers` are not folded from events by rules of their own: each row is
read off the `SagaInstance` that `evolve` gives after an event (the one fold live state and
replay share), so the read models cannot disagree with the saga about its status, its parking
or its pending timers. Two facts live only in rows, and are taken from the typed event that
caused them: the step of the last command issued (`current_step`), and whether a timer that
left the pending set did so by firing. Timestamps come from `recorded_at`, never the clock,
so folding the same events always yields the same rows: that is what `rebuild` relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from event_store import BatchAppendResult, RecordedEvent
from orchestrator.projections._rows import InstanceRow, TimerRow
from orchestrator.saga import SagaInstance, SagaRegistry, evolve
from orchestrator.saga import events as ev

__all__ = ["Fold", "ReadModelChanges", "fold_history"]

# One event of a stream and the instance before and after it.
Fold = tuple[ev.SagaEvent, SagaInstance | None, SagaInstance]


class _Pending(Protocol):
    """What a row reads of a pending timer of `SagaInstance.timers`."""

    @property
    def timer_id(self) -> str: ...
    @property
    def fire_at(self) -> datetime: ...
    @property
    def purpose(self) -> str: ...
    @property
    def step(self) -> str | None: ...
    @property
    def attempt(self) -> int | None: ...


_NO_TIMERS: Mapping[str, _Pending] = {}


@dataclass(slots=True)
class ReadModelChanges:
    """The rows the events folded so far changed, keyed as in their tables."""

    instances: dict[str, InstanceRow] = field(default_factory=dict)
    timers: dict[tuple[str, str], TimerRow] = field(default_factory=dict)

    def apply(
        self,
        stream_id: str,
        before: SagaInstance | None,
        after: SagaInstance,
        event: ev.SagaEvent,
        *,
        version: int,
        position: int,
        recorded_at: datetime,
    ) -> None:
        """Fold one event: `after` is `evolve(definition, before, event)`."""
        step = event.step if isinstance(event, ev.CommandIssued) else None
        self._instance(
            stream_id,
            after,
            commanded_step=step,
            version=version,
            position=position,
            recorded_at=recorded_at,
        )
        self._timers(stream_id, before, after, event, version=version, recorded_at=recorded_at)

    def _instance(
        self,
        stream_id: str,
        after: SagaInstance,
        *,
        commanded_step: str | None,
        version: int,
        position: int,
        recorded_at: datetime,
    ) -> None:
        """The saga's row after `after`; `commanded_step` is the step of the last command
        issued by the events folded since the row was last set, if any."""
        row = self.instances.get(stream_id)
        # None when neither these events nor earlier ones folded here named a step: the writer
        # then keeps the step the table holds (a command's step is never unset again).
        current_step = commanded_step or (row.current_step if row is not None else None)
        lifecycle = after.lifecycle
        self.instances[stream_id] = InstanceRow(
            stream_id=stream_id,
            saga_type=after.saga_type,
            status=lifecycle,
            status_before_park=after.status.value if lifecycle == "parked" else None,
            current_step=current_step,
            definition_version=after.definition_version,
            business_key=after.business_key,
            # Known only from the stream's first event; the writer keeps the stored one.
            started_at=row.started_at if row is not None else recorded_at,
            updated_at=recorded_at,
            last_version=version,
            last_position=position,
        )

    def _timers(
        self,
        stream_id: str,
        before: SagaInstance | None,
        after: SagaInstance,
        event: ev.SagaEvent,
        *,
        version: int,
        recorded_at: datetime,
    ) -> None:
        old: Mapping[str, _Pending] = before.timers if before is not None else _NO_TIMERS
        new: Mapping[str, _Pending] = after.timers
        if new is old:
            return  # evolve keeps the mapping when the event touches no timer: the common case
        for timer_id, pending in new.items():
            if old.get(timer_id) is not pending:
                self._timer(stream_id, pending, "scheduled", version, recorded_at, scheduled=True)
        for timer_id, pending in old.items():
            if timer_id not in new:
                fired = isinstance(event, ev.TimerFired) and event.timer_id == timer_id
                status = "fired" if fired else "cancelled"
                self._timer(stream_id, pending, status, version, recorded_at, scheduled=False)

    def _timer(
        self,
        stream_id: str,
        pending: _Pending,
        status: str,
        version: int,
        recorded_at: datetime,
        *,
        scheduled: bool,
    ) -> None:
        key = (stream_id, pending.timer_id)
        earlier = self.timers.get(key)
        self.timers[key] = TimerRow(
            stream_id=stream_id,
            timer_id=pending.timer_id,
            fire_at=pending.fire_at,
            purpose=pending.purpose,
            step=pending.step,
            attempt=pending.attempt,
            status=status,
            # A closing event does not know when its timer was scheduled: the writer keeps the
            # stored value unless this accumulator saw the scheduling itself.
            scheduled_at=(recorded_at if scheduled or earlier is None else earlier.scheduled_at),
            updated_at=recorded_at,
            last_version=version,
        )

    def apply_stream(
        self,
        stream_id: str,
        folds: Sequence[Fold],
        *,
        first_version: int,
        positions: Sequence[int],
        recorded_at: Sequence[datetime] | datetime,
    ) -> None:
        """Fold consecutive events of one stream, the first at `first_version`. The saga's row
        is built once, for the last of them (the worker's path: a whole batch of one saga)."""
        if not folds:
            return
        commanded_step: str | None = None
        row = self.instances.get(stream_id)
        if row is None and folds[0][1] is None:
            # The stream starts here: its row's started_at is the first event's.
            first_at = recorded_at if isinstance(recorded_at, datetime) else recorded_at[0]
            self._instance(
                stream_id,
                folds[0][2],
                commanded_step=None,
                version=first_version,
                position=positions[0],
                recorded_at=first_at,
            )
        for index, (event, before, after) in enumerate(folds):
            at = recorded_at if isinstance(recorded_at, datetime) else recorded_at[index]
            if isinstance(event, ev.CommandIssued):
                commanded_step = event.step
            self._timers(
                stream_id, before, after, event, version=first_version + index, recorded_at=at
            )
        last = len(folds) - 1
        at = recorded_at if isinstance(recorded_at, datetime) else recorded_at[last]
        self._instance(
            stream_id,
            folds[last][2],
            commanded_step=commanded_step,
            version=first_version + last,
            position=positions[last],
            recorded_at=at,
        )

    def apply_appended(
        self,
        result: BatchAppendResult,
        folds: dict[str, list[Fold]],
        recorded_at: datetime,
    ) -> None:
        """Fold what one batch append wrote (all its events share the batch's `recorded_at`):
        `folds` holds each stream's decided events; conflicts and repeats wrote nothing."""
        for stream_id, appended in result.appended.items():
            if appended.deduplicated or stream_id not in folds:
                continue
            self.apply_stream(
                stream_id,
                folds[stream_id],
                first_version=appended.first_version,
                positions=appended.positions,
                recorded_at=recorded_at,
            )

    def __bool__(self) -> bool:
        return bool(self.instances or self.timers)


def fold_history(
    changes: ReadModelChanges, registry: SagaRegistry, recorded: Sequence[RecordedEvent]
) -> SagaInstance | None:
    """Fold one whole stream, from its first event, into `changes`; returns the final state.

    Raises what replay raises (ReplayError, RegistryError, a validation error) when the stream
    cannot be folded with `registry`: the caller decides whether to skip it."""
    typed = [ev.event_from_recorded(event) for event in recorded]
    if not typed:
        return None
    definition = registry.for_history(typed)
    state: SagaInstance | None = None
    for event, stored in zip(typed, recorded, strict=True):
        after = evolve(definition, state, event)
        changes.apply(
            stored.stream_id,
            state,
            after,
            event,
            version=stored.version,
            position=stored.position,
            recorded_at=stored.recorded_at,
        )
        state = after
    return state
