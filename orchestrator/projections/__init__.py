"""The saga read models, `saga_instances` and `timers`: rows read off the typed fold.

Every row comes from the `SagaInstance` that `orchestrator.saga.evolve` gives after an event,
so the read models and live state cannot disagree. The worker writes them in its batch
transaction (`PostgresReadModels`); `rebuild` recreates them from the events; the readers
serve the timer poll and `sagactl saga list/stuck`. Their tables' migrations are in
`orchestrator/projections/migrations` (versions 003 and 051, applied by `sagactl db migrate`).
"""

from importlib.abc import Traversable
from importlib.resources import files

from orchestrator.projections._fold import Fold, ReadModelChanges, fold_history
from orchestrator.projections._maintain import (
    PROJECTOR_NAME,
    PostgresProjector,
    RebuildReport,
    TableChange,
    rebuild,
)
from orchestrator.projections._memory import InMemoryReadModels
from orchestrator.projections._queries import (
    InstanceFilter,
    PostgresProjections,
    due_timers,
    saga_instance_page,
    stuck_sagas,
)
from orchestrator.projections._rows import ACTIVE_STATUSES, InstanceRow, TimerRow
from orchestrator.projections._writer import PostgresReadModels, ReadModelWriter, write_changes

# The migrations of the read models' tables (see orchestrator.database).
MIGRATIONS: Traversable = files("orchestrator.projections") / "migrations"

__all__ = [
    "ACTIVE_STATUSES",
    "MIGRATIONS",
    "PROJECTOR_NAME",
    "Fold",
    "InMemoryReadModels",
    "InstanceFilter",
    "InstanceRow",
    "PostgresProjections",
    "PostgresProjector",
    "PostgresReadModels",
    "ReadModelChanges",
    "ReadModelWriter",
    "RebuildReport",
    "TableChange",
    "TimerRow",
    "due_timers",
    "fold_history",
    "rebuild",
    "saga_instance_page",
    "stuck_sagas",
    "write_changes",
]
