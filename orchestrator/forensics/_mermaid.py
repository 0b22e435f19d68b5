"""A timeline as a Mermaid sequence diagram: the orchestrator and each participant as lanes.

Forward commands are solid arrows out (``->>``), compensations open arrows out (``-)``),
successful replies dashed arrows back (``-->>``), failure replies dashed crossed arrows
(``--x``); compensation phases are shaded ``rect`` blocks, dead letters and operator actions
are notes, so they stand out in the rendered picture and in the text alike.
"""

from __future__ import annotations

import re

from orchestrator.forensics._timeline import Kind, Timeline, TimelineEntry

ORCHESTRATOR = "O"
OPERATOR = "Op"
_COMPENSATION_SHADE = "rgb(255, 236, 214)"
# Mermaid reads `;` as a statement end and `#` as an entity; `<`/`>` would be taken as HTML.
_UNSAFE = re.compile(r"[;#<>\n\r]")


def render_mermaid(timeline: Timeline) -> str:
    lane_ids = {lane: f"P{i + 1}" for i, lane in enumerate(timeline.lanes)}
    has_operator = any(e.kind is Kind.OPERATOR and e.actor for e in timeline.entries)
    lines = [
        "sequenceDiagram",
        f"    title {_text(f'saga {timeline.saga_id} ({timeline.saga_type})')}",
        f"    participant {ORCHESTRATOR} as orchestrator",
        *(f"    participant {pid} as {_text(lane)}" for lane, pid in lane_ids.items()),
    ]
    if has_operator:
        lines.append(f"    actor {OPERATOR} as operator")
    starts = {first: last for first, last in timeline.compensation_phases}
    ends = set(starts.values())
    indent = "    "
    for index, entry in enumerate(timeline.entries):
        if index in starts:
            lines.append(f"    rect {_COMPENSATION_SHADE}")
            indent = "        "
        lines.extend(indent + line for line in _statements(entry, lane_ids))
        if index in ends:
            lines.append("    end")
            indent = "    "
    return "\n".join(lines) + "\n"


def _statements(entry: TimelineEntry, lane_ids: dict[str, str]) -> list[str]:
    label = _label(entry)
    lane = lane_ids.get(entry.lane) if entry.lane is not None else None
    if entry.arrow == "out" and lane is not None:
        style = "-)" if entry.kind is Kind.COMPENSATION else "->>"
        return [f"{ORCHESTRATOR}{style}{lane}: {label}"]
    if entry.arrow == "in" and lane is not None:
        style = "--x" if entry.kind is Kind.FAILURE else "-->>"
        return [f"{lane}{style}{ORCHESTRATOR}: {label}"]
    if entry.kind is Kind.OPERATOR and entry.actor:
        return [f"{OPERATOR}->>{ORCHESTRATOR}: {label}"]
    if entry.kind is Kind.DEAD_LETTER:
        where = f"{ORCHESTRATOR},{lane}" if lane is not None else ORCHESTRATOR
        return [f"Note over {where}: DEAD LETTER {label}"]
    if lane is not None:  # a fact about a participant's step: a timeout, an abandonment
        return [f"Note over {lane}: {label}"]
    return [f"Note over {ORCHESTRATOR}: {label}"]


def _label(entry: TimelineEntry) -> str:
    parts = [f"v{entry.version} {entry.event}"]
    if entry.step is not None:
        attempt = f" attempt {entry.attempt}" if entry.attempt is not None else ""
        parts.append(f"{entry.step}{attempt}")
    if entry.short_type is not None:
        parts.append(entry.short_type)
    if entry.actor:
        parts.append(f"by {entry.actor}")
    if entry.detail and entry.arrow is None:
        parts.append(entry.detail)
    return _text(" - ".join(parts))


def _text(value: str) -> str:
    return _UNSAFE.sub(" ", value).strip()
