"""Forensics over a saga's stream: its timeline (table, Mermaid, self-contained HTML), its
typed state at any version or instant, and what changed between two points.

Pure code: it takes a stream's recorded events (from any event store) as a ``History``, decoded
once, and a ``SagaRegistry``, and folds them with the same ``evolve`` as the live worker.
``sagactl saga show|state|diff`` is its CLI; ``sagactl audit`` checks the design's invariants
over the whole store (``_invariants`` per saga, pure; its adapters ``audit_store``, the
PostgreSQL pass, and ``dead_letters``, the Kafka look-up, are imported by the CLI alone so
that this package loads no driver).
"""

from orchestrator.forensics._history import History, PointError
from orchestrator.forensics._html import render_html, render_svg
from orchestrator.forensics._invariants import (
    INVARIANTS,
    DeadLetterToFind,
    Invariant,
    SagaAudit,
    Violation,
    audit_saga,
)
from orchestrator.forensics._mermaid import render_mermaid
from orchestrator.forensics._state import (
    Cause,
    FieldChange,
    StateDiff,
    describe,
    diff,
    flatten,
    state_at,
)
from orchestrator.forensics._timeline import (
    TIMELINE_COLUMNS,
    Kind,
    Timeline,
    TimelineEntry,
    build_timeline,
)

__all__ = [
    "INVARIANTS",
    "TIMELINE_COLUMNS",
    "Cause",
    "DeadLetterToFind",
    "FieldChange",
    "History",
    "Invariant",
    "Kind",
    "PointError",
    "SagaAudit",
    "StateDiff",
    "Timeline",
    "TimelineEntry",
    "Violation",
    "audit_saga",
    "build_timeline",
    "describe",
    "diff",
    "flatten",
    "render_html",
    "render_mermaid",
    "render_svg",
    "state_at",
]
