"""A timeline as ONE self-contained HTML file: an inline SVG sequence picture, then the table.

SREs open these on machines without internet, so the file references nothing: no script, no
font, no stylesheet, no image, not even an SVG marker (``url(#...)``) — arrowheads are drawn as
polygons. Rows go down in stream order; the left axis gives each event's time since the start.
"""

from __future__ import annotations

from html import escape
from typing import Final

from orchestrator.forensics._timeline import TIMELINE_COLUMNS, Kind, Timeline, TimelineEntry

COLOURS: Final[dict[Kind, str]] = {
    Kind.START: "#455a64",
    Kind.COMMAND: "#1565c0",
    Kind.SUCCESS: "#2e7d32",
    Kind.FAILURE: "#c62828",
    Kind.COMPENSATION: "#e65100",
    Kind.DEAD_LETTER: "#6a1b9a",
    Kind.OPERATOR: "#00838f",
    Kind.TIMER: "#757575",
    Kind.IGNORED: "#9e9e9e",
}
_TINTS: Final[dict[Kind, str]] = {
    Kind.SUCCESS: "#e8f5e9",
    Kind.FAILURE: "#ffebee",
    Kind.COMPENSATION: "#fff3e0",
    Kind.DEAD_LETTER: "#f3e5f5",
    Kind.OPERATOR: "#e0f7fa",
}
_LEGEND: Final = (
    (Kind.COMMAND, "command"),
    (Kind.SUCCESS, "success"),
    (Kind.FAILURE, "failure / timeout"),
    (Kind.COMPENSATION, "compensation"),
    (Kind.DEAD_LETTER, "dead letter / parked"),
    (Kind.OPERATOR, "operator"),
    (Kind.TIMER, "timer"),
)
_COMPENSATION_BAND: Final = "#fff3e0"

# Geometry (px). The gutter holds the time axis and the event names.
ROW: Final = 28
TOP: Final = 72  # legend, then lane headers
GUTTER: Final = 330
LANE_GAP: Final = 250
HEADER_H: Final = 26
MIN_WIDTH: Final = 1000  # room for the legend with a single participant
FONT: Final = "font-family:DejaVu Sans,Arial,Helvetica,sans-serif"

TABLE_COLUMNS: Final = (*TIMELINE_COLUMNS[:-1], "participant", TIMELINE_COLUMNS[-1])


def render_html(timeline: Timeline) -> str:
    title = f"saga {timeline.saga_id} ({timeline.saga_type})"
    summary = _summary(timeline)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="summary">{escape(summary)}</p>',
            render_svg(timeline),
            _table(timeline),
            "</body></html>",
            "",
        ]
    )


def _summary(timeline: Timeline) -> str:
    """What the timeline itself says: how many events, over how long, and the last one (the
    state they fold to is `sagactl saga state`: folding here would double the page's cost)."""
    if not timeline.entries:
        return "no events"
    first, last = timeline.entries[0], timeline.entries[-1]
    seconds = (last.recorded_at - first.recorded_at).total_seconds()
    return (
        f"{len(timeline.entries)} events over {seconds:.3f} s, from "
        f"{first.recorded_at.isoformat()}; last: v{last.version} {last.event}"
    )


def render_svg(timeline: Timeline) -> str:
    lanes = ("orchestrator", *timeline.lanes)
    x_of = {lane: GUTTER + 90 + i * LANE_GAP for i, lane in enumerate(lanes)}
    width = max(x_of[lanes[-1]] + 170, MIN_WIDTH)
    bottom = TOP + HEADER_H + 12 + ROW * len(timeline.entries)
    height = bottom + 16
    parts = [
        f'<svg class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" style="{FONT}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        *_legend(timeline),
        *_compensation_bands(timeline, width),
        *_lanes(lanes, x_of, bottom),
    ]
    start = timeline.entries[0].recorded_at if timeline.entries else None
    for index, entry in enumerate(timeline.entries):
        y = TOP + HEADER_H + 12 + ROW * index + ROW // 2
        seconds = (entry.recorded_at - start).total_seconds() if start is not None else 0.0
        parts.extend(_gutter(entry, y, seconds))
        parts.extend(_mark(entry, y, x_of, width))
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(timeline: Timeline) -> list[str]:
    out = ['<text x="12" y="22" font-size="13" font-weight="bold" fill="#212121">Legend</text>']
    x = 80
    for kind, label in _LEGEND:
        out.append(f'<rect x="{x}" y="11" width="14" height="14" rx="3" fill="{COLOURS[kind]}"/>')
        out.append(f'<text x="{x + 20}" y="23" font-size="13" fill="#212121">{label}</text>')
        x += 36 + int(8.2 * len(label))
    started = timeline.entries[0].recorded_at.isoformat() if timeline.entries else "-"
    out.append(
        '<text x="12" y="42" font-size="12" fill="#616161">solid arrow: command sent; dashed: '
        "reply; dot: a fact of the orchestrator or of a step; shaded band: compensation phase"
        "</text>"
    )
    out.append(
        '<text x="12" y="58" font-size="12" fill="#616161">time: seconds since the first '
        f"event, {escape(started)}</text>"
    )
    return out


def _compensation_bands(timeline: Timeline, width: int) -> list[str]:
    bands: list[str] = []
    for begin, last in timeline.compensation_phases:
        y = TOP + HEADER_H + 12 + ROW * begin
        h = ROW * (last - begin + 1)
        bands.append(
            f'<rect x="{GUTTER - 4}" y="{y}" width="{width - GUTTER}" height="{h}" '
            f'fill="{_COMPENSATION_BAND}"/>'
        )
        bands.append(
            f'<text x="{width - 12}" y="{y + 14}" font-size="12" text-anchor="end" '
            f'fill="{COLOURS[Kind.COMPENSATION]}" font-weight="bold">compensation</text>'
        )
    return bands


def _lanes(lanes: tuple[str, ...], x_of: dict[str, int], bottom: int) -> list[str]:
    out = [
        f'<text x="12" y="{TOP + 17}" font-size="13" font-weight="bold" fill="#212121">'
        "time (s)   event</text>",
        f'<line x1="{GUTTER - 8}" y1="{TOP}" x2="{GUTTER - 8}" y2="{bottom}" '
        'stroke="#bdbdbd" stroke-width="1"/>',
    ]
    for lane in lanes:
        x = x_of[lane]
        label = escape(lane)
        w = max(120, 8 * len(lane) + 20)
        out.append(
            f'<rect x="{x - w // 2}" y="{TOP}" width="{w}" height="{HEADER_H}" rx="5" '
            'fill="#eceff1" stroke="#455a64"/>'
        )
        out.append(
            f'<text x="{x}" y="{TOP + 18}" font-size="13" font-weight="bold" '
            f'text-anchor="middle" fill="#263238">{label}</text>'
        )
        out.append(
            f'<line x1="{x}" y1="{TOP + HEADER_H}" x2="{x}" y2="{bottom}" '
            'stroke="#90a4ae" stroke-width="1.5" stroke-dasharray="4 4"/>'
        )
    return out


def _gutter(entry: TimelineEntry, y: int, seconds: float) -> list[str]:
    colour = COLOURS[entry.kind]
    return [
        f'<text x="12" y="{y + 4}" font-size="12" fill="#616161">+{seconds:.3f}</text>',
        f'<text x="80" y="{y + 4}" font-size="12" fill="{colour}" font-weight="bold">'
        f"v{entry.version} {escape(entry.event)}</text>",
    ]


def _mark(entry: TimelineEntry, y: int, x_of: dict[str, int], width: int) -> list[str]:
    colour = COLOURS[entry.kind]
    orchestrator = x_of["orchestrator"]
    label = escape(_arrow_label(entry))
    if entry.arrow is not None and entry.lane in x_of:
        lane_x = x_of[entry.lane]
        x1, x2 = (orchestrator, lane_x) if entry.arrow == "out" else (lane_x, orchestrator)
        dash = ' stroke-dasharray="7 4"' if entry.arrow == "in" else ""
        head = 9 if x2 > x1 else -9
        return [
            f'<line x1="{x1}" y1="{y + 6}" x2="{x2 - head}" y2="{y + 6}" stroke="{colour}" '
            f'stroke-width="2.5"{dash}/>',
            f'<polygon points="{x2},{y + 6} {x2 - head},{y + 1} {x2 - head},{y + 11}" '
            f'fill="{colour}"/>',
            # A white halo keeps the label legible where it crosses a lane's line.
            f'<text x="{(x1 + x2) // 2}" y="{y + 1}" font-size="12" text-anchor="middle" '
            f'fill="{colour}" stroke="#ffffff" stroke-width="4" paint-order="stroke">'
            f"{label}</text>",
        ]
    x = x_of.get(entry.lane or "", orchestrator)
    note = _note_label(entry)
    w = 14 + int(7.2 * len(note))
    # Beside the dot, on whichever side has the room (the last lane's notes go left).
    box_x = x + 12 if x + 12 + w <= width - 8 else max(GUTTER, x - 12 - w)
    return [
        f'<circle cx="{x}" cy="{y + 2}" r="6" fill="{colour}"/>',
        f'<rect x="{box_x}" y="{y - 9}" width="{w}" height="20" rx="4" fill="#ffffff" '
        f'stroke="{colour}" stroke-width="1.5"/>',
        f'<text x="{box_x + 6}" y="{y + 6}" font-size="12" fill="{colour}">{escape(note)}</text>',
    ]


def _arrow_label(entry: TimelineEntry) -> str:
    step = entry.step or ""
    attempt = f" #{entry.attempt}" if entry.attempt is not None else ""
    return f"{step}{attempt}  {entry.short_type or ''}".strip()


def _note_label(entry: TimelineEntry) -> str:
    step = entry.step if entry.step and entry.step not in entry.detail else None
    bits = [b for b in (step, entry.short_type, entry.actor and f"by {entry.actor}") if b]
    if entry.detail:
        bits.append(entry.detail if len(entry.detail) <= 70 else entry.detail[:67] + "...")
    return " · ".join(bits) or entry.event


def _table(timeline: Timeline) -> str:
    head = "".join(f"<th>{c}</th>" for c in TABLE_COLUMNS)
    rows = []
    for entry in timeline.entries:
        tint = _TINTS.get(entry.kind)
        style = f' style="background:{tint}"' if tint else ""
        cells = "".join(
            "<td>-</td>" if v is None else f"<td>{escape(v) if isinstance(v, str) else v}</td>"
            for v in _cells(entry)
        )
        rows.append(f'<tr class="{entry.kind.value}"{style}>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cells(entry: TimelineEntry) -> tuple[object, ...]:
    """The row of TABLE_COLUMNS (read directly: a dict per row costs a tenth of the page)."""
    return (
        entry.version,
        entry.position,
        entry.recorded_at.isoformat(),
        entry.event,
        entry.step,
        entry.attempt,
        entry.message_type,
        entry.message_id,
        entry.trace_id,
        entry.actor,
        entry.lane,
        entry.detail,
    )


_CSS: Final = (
    "body{margin:16px;color:#212121;" + FONT + "}"
    "h1{font-size:18px;margin:0 0 4px}"
    ".summary{margin:0 0 12px;color:#424242}"
    "svg.timeline{display:block;margin-bottom:20px;border:1px solid #e0e0e0}"
    "table{border-collapse:collapse;font-size:12px}"
    "th,td{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;white-space:nowrap}"
    "th{background:#eceff1}"
)
