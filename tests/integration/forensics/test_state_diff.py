"""`sagactl saga state` and `sagactl saga diff` on a compensated order saga run by the real
worker: the state just before and just after the failed step, and the diff between them."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.forensics.conftest import Sagactl, ok
from tests.integration.worker.conftest import World


def _state(cli: Sagactl, saga_id: str, *point: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        ok(cli("state", saga_id, *point, "--output", "json")).stdout
    )
    return document


def test_state_before_and_after_the_failed_step(
    world: World, compensated_saga: str, cli: Sagactl
) -> None:
    stream = world.events([compensated_saga])
    failed = next(e.version for e in stream if e.event_type == "StepFailed")

    before = _state(cli, compensated_saga, "--at-version", str(failed - 1))
    after = _state(cli, compensated_saga, "--at-version", str(failed))
    now = _state(cli, compensated_saga)

    assert before["at"]["version"] == failed - 1
    assert (before["lifecycle"], after["lifecycle"], now["lifecycle"]) == (
        "running",
        "running",
        "compensated",
    )
    assert before["steps"]["schedule_shipment"]["status"] == "running"
    assert after["steps"]["schedule_shipment"]["status"] == "failed"
    assert (before["failed_step"], after["failed_step"]) == (None, "schedule_shipment")
    # Business fields: what the hooks put there from the participants' replies.
    assert before["state"]["credit_reservation_id"]
    assert before["state"]["inventory_reservation_id"]
    assert before["state"]["order_id"] == world.order(1).order_id
    assert now["steps"]["reserve_credit"]["status"] == "compensated"
    assert now["steps"]["reserve_inventory"]["status"] == "compensated"

    # The same point by time: the instant the event before the failure was recorded at.
    rows = json.loads(ok(cli("show", compensated_saga, "--output", "json")).stdout)
    instant = rows[failed - 2]["recorded_at"]
    assert _state(cli, compensated_saga, "--at-time", instant) == before

    table = ok(cli("state", compensated_saga, "--at-version", str(failed)))
    assert f"at version {failed} (StepFailed" in table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["field", "value"]
    assert any(line.split() == ["steps.schedule_shipment.status", "failed"] for line in lines)


def test_diff_across_the_failed_step_names_fields_and_events(
    world: World, compensated_saga: str, cli: Sagactl
) -> None:
    stream = world.events([compensated_saga])
    failed = next(e for e in stream if e.event_type == "StepFailed")
    with_positions = json.loads(ok(cli("show", compensated_saga, "--output", "json")).stdout)
    position = {r["version"]: r["position"] for r in with_positions}

    result = ok(
        cli(
            "diff",
            compensated_saga,
            "--from",
            str(failed.version - 1),
            "--to",
            str(failed.version),
            "--output",
            "json",
        )
    )

    document = json.loads(result.stdout)
    assert (document["from_version"], document["to_version"]) == (
        failed.version - 1,
        failed.version,
    )
    changes = {c["field"]: c for c in document["changes"]}
    cause = [
        {"position": position[failed.version], "version": failed.version, "event": "StepFailed"}
    ]
    assert changes["steps.schedule_shipment.status"] == {
        "field": "steps.schedule_shipment.status",
        "from": "running",
        "to": "failed",
        "events": cause,
    }
    assert changes["failed_step"]["to"] == "schedule_shipment"
    assert changes["failed_step"]["events"] == cause
    assert "state.order_id" not in changes  # unchanged fields are not listed

    # To the end, by time: the compensation's changes, each with the events that made them.
    end = with_positions[-1]["recorded_at"]
    start = with_positions[failed.version - 2]["recorded_at"]
    by_time = ok(cli("diff", compensated_saga, "--from-time", start, "--to-time", end))
    assert f"version {failed.version - 1} -> {len(stream)}" in by_time.stderr
    lines = by_time.stdout.splitlines()
    assert lines[0].split() == ["field", "from", "to", "events"]
    status = next(line for line in lines if line.startswith("status "))
    assert status.split()[1:3] == ["running", "compensated"]
    assert "CompensationStarted" in status
    assert "SagaCompensated" in status
    credit = next(line for line in lines if line.startswith("steps.reserve_credit.status "))
    assert "StepCompensated" in credit
