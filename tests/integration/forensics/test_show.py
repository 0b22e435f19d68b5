"""`sagactl saga show` on a compensated order saga run by the real worker: the table, JSON,
Mermaid (checked by Mermaid's own parser in headless Chromium) and the self-contained HTML
page (rendered by headless Chromium: the screenshot is not blank, the DOM names every step)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.forensics import Kind
from orchestrator.forensics._html import COLOURS
from tests.integration.forensics import browser
from tests.integration.forensics.conftest import TRACE_ID, Sagactl, ok
from tests.integration.worker.conftest import World

STEPS = ("reserve_credit", "reserve_inventory", "schedule_shipment")
COMPENSATIONS = [
    ("CompensationStarted", None),
    ("CommandIssued", "reserve_inventory"),
    ("StepCompensated", "reserve_inventory"),
    ("CommandIssued", "reserve_credit"),
    ("StepCompensated", "reserve_credit"),
    ("SagaCompensated", None),
]


def test_show_a_compensated_saga_as_table_and_json(
    world: World, compensated_saga: str, cli: Sagactl
) -> None:
    stream = world.events([compensated_saga])

    rows = json.loads(ok(cli("show", compensated_saga, "--output", "json")).stdout)

    assert [(r["version"], r["event"]) for r in rows] == [(e.version, e.event_type) for e in stream]
    assert [(r["event"], r["step"]) for r in rows if r["kind"] == "compensation"] == COMPENSATIONS
    issued = [e.data for e in stream if e.event_type == "CommandIssued"]
    assert [r["message_id"] for r in rows if r["event"] == "CommandIssued"] == [
        d["message_id"] for d in issued
    ]
    assert [r["participant"] for r in rows if r["event"] == "CommandIssued"] == [
        d["topic"] for d in issued
    ]
    failed = next(r for r in rows if r["event"] == "StepFailed")
    assert (failed["step"], failed["attempt"], failed["kind"]) == (
        "schedule_shipment",
        1,
        "failure",
    )
    assert failed["message_type"].endswith(".ShipmentRejected")
    # The start command's trace runs through every decision, replies included.
    assert {r["trace_id"] for r in rows} == {TRACE_ID}
    assert all(r["position"] > 0 and r["recorded_at"] for r in rows)

    table = ok(cli("show", compensated_saga)).stdout.splitlines()
    assert table[0].split() == [
        "version", "position", "recorded_at", "event", "step", "attempt", "message_type",
        "message_id", "trace_id", "actor", "detail",
    ]  # fmt: skip
    assert len(table) == 1 + len(stream)
    assert sum("StepCompensated" in line for line in table) == 2
    assert any("ReleaseInventory" in line for line in table)


def test_show_a_compensated_saga_as_mermaid_and_html(
    world: World, compensated_saga: str, cli: Sagactl, tmp_path: Path
) -> None:
    diagram_file, page = tmp_path / "saga.mmd", tmp_path / "saga.html"

    result = ok(cli("show", compensated_saga, "--format", "mermaid", "--out", str(diagram_file)))
    assert result.stdout == ""
    assert "wrote the timeline of" in result.stderr
    diagram = diagram_file.read_text()
    assert browser.mermaid_parse(diagram, tmp_path) == "ok"
    assert diagram.count("-)") == 2  # both compensation commands, in their own arrow style
    assert "rect " in diagram
    assert "--x" in diagram

    html = ok(cli("show", compensated_saga, "--format", "html")).stdout
    page.write_text(html)
    for reference in ("<script", "<link", "src=", "href=", "url(", "http:", "https:"):
        assert reference not in html.lower(), reference

    dom = browser.dump_dom(page)
    for step in STEPS:
        assert step in dom, step
    assert "SagaCompensated" in dom
    assert "<svg" in dom

    shot = tmp_path / "saga.png"
    browser.screenshot(page, shot, 1400, 900)
    image = browser.read_png(shot)
    assert (image.width, image.height) == (1400, 900)
    assert image.share_not_white() > 0.05, "the page rendered (almost) blank"
    assert len(image.colours()) > 50
    # The picture itself carries the outcome: compensation and failure colours are drawn.
    assert image.count_near(COLOURS[Kind.COMPENSATION]) > 500
    assert image.count_near(COLOURS[Kind.FAILURE]) > 100
    assert image.count_near(COLOURS[Kind.SUCCESS]) > 100
