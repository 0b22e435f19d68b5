"""The rows of the saga read models, as the tables `saga_instances` and `timers` hold them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

__all__ = ["ACTIVE_STATUSES", "INSTANCE_FIELDS", "TIMER_FIELDS", "InstanceRow", "TimerRow"]

# The statuses of a saga that is still moving on its own: one with no event for long is stuck.
# (Parked sagas wait on a dead letter, failed ones on an operator: both are listed elsewhere.)
# saga_instances_active_idx (migration 051) is partial on exactly these.
ACTIVE_STATUSES = ("started", "running", "compensating")


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One saga, as listed by `sagactl saga list/stuck`: every column comes from its events."""

    stream_id: str
    saga_type: str
    status: str  # SagaInstance.lifecycle of the typed fold
    status_before_park: str | None  # the status under `parked`, while it is parked
    current_step: str | None  # the step of the last command issued
    definition_version: int | None
    business_key: str | None
    started_at: datetime  # recorded_at of SagaStarted
    updated_at: datetime  # recorded_at of the last event
    last_version: int
    last_position: int


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A durable timer. Fired and cancelled ones keep their row (status says which)."""

    stream_id: str
    timer_id: str
    fire_at: datetime
    purpose: str
    step: str | None
    attempt: int | None
    status: str  # scheduled, fired or cancelled
    scheduled_at: datetime
    updated_at: datetime
    # The event that last changed this timer, so an older write never overwrites a newer one.
    last_version: int


INSTANCE_FIELDS = tuple(f.name for f in fields(InstanceRow))
TIMER_FIELDS = tuple(f.name for f in fields(TimerRow))
