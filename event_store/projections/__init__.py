"""Read models folded from saga streams: `saga_instances` and `timers`, and their rebuild."""

from event_store.projections._fold import ProjectionState, SagaInstance, Timer
from event_store.projections._memory import InMemoryProjections
from event_store.projections._postgres import (
    ACTIVE_STATUSES,
    PROJECTOR_NAME,
    InstanceFilter,
    PostgresProjections,
    PostgresProjector,
    RebuildReport,
    TableChange,
    due_timers,
    events_until,
    rebuild,
    saga_instance_page,
    streams_started_by,
    stuck_sagas,
)

__all__ = [
    "ACTIVE_STATUSES",
    "PROJECTOR_NAME",
    "InMemoryProjections",
    "InstanceFilter",
    "PostgresProjections",
    "PostgresProjector",
    "ProjectionState",
    "RebuildReport",
    "SagaInstance",
    "TableChange",
    "Timer",
    "due_timers",
    "events_until",
    "rebuild",
    "saga_instance_page",
    "streams_started_by",
    "stuck_sagas",
]
