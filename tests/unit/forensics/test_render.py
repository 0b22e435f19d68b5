"""Mermaid and HTML renderings of a timeline (pure text; the browser checks are in
tests/integration/forensics)."""

from __future__ import annotations

import re

from orchestrator.forensics import History, build_timeline, render_html, render_mermaid
from orchestrator.forensics._html import TABLE_COLUMNS
from tests.unit.forensics.histories import STEPS, compensated_order, parked_then_retried, recorded


def test_mermaid_lanes_are_the_orchestrator_and_each_participant() -> None:
    text = render_mermaid(build_timeline(History.of(recorded(compensated_order()))))
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert [line.strip() for line in lines if line.strip().startswith("participant")] == [
        "participant O as orchestrator",
        "participant P1 as credit.commands",
        "participant P2 as inventory.commands",
        "participant P3 as shipping.commands",
    ]


def test_mermaid_arrows_distinguish_commands_replies_failures_and_compensations() -> None:
    text = render_mermaid(build_timeline(History.of(recorded(compensated_order()))))
    assert "O->>P1: v2 CommandIssued - reserve_credit attempt 1 - ReserveCredit" in text
    assert "P1-->>O: v3 StepSucceeded - reserve_credit attempt 1 - CreditReserved" in text
    assert "P3--xO: v7 StepFailed - schedule_shipment attempt 1 - ShipmentRejected" in text
    # Compensations: open arrows, inside one shaded block that ends with the saga.
    body = text[text.index("rect ") : text.rindex("end")]
    assert "O-)P2: v9 CommandIssued - reserve_inventory attempt 1 - ReleaseInventory" in body
    assert "O-)P1: v11 CommandIssued - reserve_credit attempt 1 - ReleaseCredit" in body
    assert "v13 SagaCompensated" in body
    assert text.count("rect ") == 1
    assert text.rstrip().endswith("end")


def test_mermaid_marks_dead_letters_and_operator_actions() -> None:
    text = render_mermaid(build_timeline(History.of(recorded(parked_then_retried()))))
    assert "actor Op as operator" in text
    assert "Op->>O: v7 OperatorAction" in text
    assert "by alice" in text
    assert "Note over O: DEAD LETTER v3 SagaParked" in text
    assert "rect " not in text  # nothing was compensated


def test_mermaid_text_never_carries_statement_breaks_from_the_data() -> None:
    history = recorded(parked_then_retried())
    timeline = build_timeline(History.of(history))
    text = render_mermaid(timeline)
    for line in text.splitlines()[1:]:
        assert ";" not in line, line
        assert "#" not in line, line


def test_html_is_self_contained() -> None:
    page = render_html(build_timeline(History.of(recorded(compensated_order()))))
    lowered = page.lower()
    for reference in ("<script", "<link", "src=", "href=", "url(", "@import", "http:", "https:"):
        assert reference not in lowered, reference
    assert "<svg" in page
    assert "<table>" in page


def test_html_names_every_step_in_the_picture_and_the_table() -> None:
    page = render_html(build_timeline(History.of(recorded(compensated_order()))))
    svg = page[page.index("<svg") : page.index("</svg>")]
    table = page[page.index("<table>") :]
    for step in STEPS:
        assert step in svg, step
        assert step in table, step


def test_html_colours_compensation_failure_and_dead_letters_apart() -> None:
    compensated = render_html(build_timeline(History.of(recorded(compensated_order()))))
    parked = render_html(build_timeline(History.of(recorded(parked_then_retried()))))
    assert "#e65100" in compensated  # compensation arrows
    assert "#c62828" in compensated  # the failed step
    assert "#6a1b9a" in parked  # the dead letter
    assert compensated.count("#6a1b9a") == 1  # in the legend only: nothing was dead-lettered
    assert len(re.findall(r"<line [^>]*stroke=\"#e65100\"", compensated)) == 4  # 2 out, 2 back


def test_html_escapes_what_it_shows() -> None:
    history = recorded(parked_then_retried(reason="<b>not markup</b>"))
    page = render_html(build_timeline(History.of(history)))
    assert "<b>not markup</b>" not in page
    assert "&lt;b&gt;not markup&lt;/b&gt;" in page


def test_html_summary_says_how_many_events_over_how_long_and_the_last() -> None:
    page = render_html(build_timeline(History.of(recorded(compensated_order()))))
    assert (
        "13 events over 0.480 s, from 2026-12-01T09:00:00+00:00; last: v13 SagaCompensated" in page
    )


def test_html_table_has_the_timeline_columns_in_order() -> None:
    timeline = build_timeline(History.of(recorded(compensated_order())))
    page = render_html(timeline)
    header = page[page.index("<thead>") : page.index("</thead>")]
    assert re.findall(r"<th>([a-z_]+)</th>", header) == list(TABLE_COLUMNS)
    first_row = page[page.index("<tbody>") : page.index("</tr>", page.index("<tbody>"))]
    entry = timeline.entries[0]
    assert re.findall(r"<td>(.*?)</td>", first_row) == [
        str(entry.version),
        str(entry.position),
        entry.recorded_at.isoformat(),
        "SagaStarted",
        "-",
        "-",
        "saga.examples.order.PlaceOrder",
        str(entry.message_id),
        entry.trace_id,
        "-",
        "-",
        "",  # no detail
    ]
