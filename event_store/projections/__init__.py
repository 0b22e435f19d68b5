"""Read models folded from saga streams: `saga_instances` and `timers`, and their rebuild."""

from event_store.projections._fold import ProjectionState, SagaInstance, Timer
from event_store.projections._memory import InMemoryProjections
from event_store.projections._postgres import (
    PROJECTOR_NAME,
    PostgresProjections,
    PostgresProjector,
    RebuildReport,
    TableChange,
    due_timers,
    rebuild,
)

__all__ = [
    "PROJECTOR_NAME",
    "InMemoryProjections",
    "PostgresProjections",
    "PostgresProjector",
    "ProjectionState",
    "RebuildReport",
    "SagaInstance",
    "TableChange",
    "Timer",
    "due_timers",
    "rebuild",
]
