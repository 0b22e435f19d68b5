"""The timeline model: what each event of a recorded history becomes (no I/O)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

import orchestrator.forensics
from orchestrator.forensics import History, Kind, build_timeline
from tests.unit.forensics.histories import (
    TRACE_ID,
    compensated_order,
    parked_then_retried,
    recorded,
)


def test_every_event_is_an_entry_in_stream_order_with_its_position_and_time() -> None:
    history = recorded(compensated_order())
    timeline = build_timeline(History.of(history))
    assert [(e.version, e.position, e.event) for e in timeline.entries] == [
        (r.version, r.position, r.event_type) for r in history
    ]
    assert [e.recorded_at for e in timeline.entries] == [r.recorded_at for r in history]
    assert timeline.steps == ("reserve_credit", "reserve_inventory", "schedule_shipment")
    assert timeline.lanes == ("credit.commands", "inventory.commands", "shipping.commands")


def test_commands_go_out_to_their_topic_and_replies_come_back_from_it() -> None:
    history = recorded(compensated_order())
    entries = build_timeline(History.of(history)).entries
    first_command = entries[1]
    assert (first_command.event, first_command.arrow, first_command.lane) == (
        "CommandIssued",
        "out",
        "credit.commands",
    )
    # The command's own message id (what the participant dedupes on), not the start's.
    assert first_command.message_id == history[1].data["message_id"]
    assert first_command.message_type == "saga.examples.order.ReserveCredit"
    assert (first_command.step, first_command.attempt) == ("reserve_credit", 1)
    reply = entries[2]
    assert (reply.event, reply.arrow, reply.lane, reply.kind) == (
        "StepSucceeded",
        "in",
        "credit.commands",
        Kind.SUCCESS,
    )
    assert reply.short_type == "CreditReserved"
    assert reply.message_id == history[2].data["received"]["message_id"]
    assert {e.trace_id for e in entries} == {TRACE_ID}


def test_failure_and_every_compensation_are_marked() -> None:
    entries = build_timeline(History.of(recorded(compensated_order()))).entries
    kinds = [(e.event, e.step, e.kind) for e in entries]
    assert ("StepFailed", "schedule_shipment", Kind.FAILURE) in kinds
    compensations = [(e.event, e.step) for e in entries if e.kind is Kind.COMPENSATION]
    assert compensations == [
        ("CompensationStarted", None),
        ("CommandIssued", "reserve_inventory"),
        ("StepCompensated", "reserve_inventory"),
        ("CommandIssued", "reserve_credit"),
        ("StepCompensated", "reserve_credit"),
        ("SagaCompensated", None),
    ]
    timeline = build_timeline(History.of(recorded(compensated_order())))
    assert timeline.compensation_phases == ((7, 12),)
    assert "compensate reserve_inventory, reserve_credit" in entries[7].detail


def test_operator_actions_name_their_actor_and_dead_letters_their_place() -> None:
    entries = build_timeline(History.of(recorded(parked_then_retried()))).entries
    by_event = {e.event: e for e in entries}
    action = by_event["OperatorAction"]
    assert (action.kind, action.actor, action.lane) == (Kind.OPERATOR, "alice", None)
    assert action.detail == "retry reserve_credit accepted: limit raised"
    parked = by_event["SagaParked"]
    assert parked.kind is Kind.DEAD_LETTER
    assert parked.detail == "dead letter order.replies.dlt/2@41: undecodable reply"
    assert by_event["SagaUnparked"].actor == "test"  # who redrove it, from the control message
    assert [e.attempt for e in entries if e.event == "CommandIssued"] == [1, 2, 1]


def test_trace_id_is_absent_without_a_valid_traceparent() -> None:
    history = recorded(compensated_order())
    broken = [
        replace(history[0], metadata={"traceparent": "garbage"}),
        *history[1:],
    ]
    assert build_timeline(History.of(broken)).entries[0].trace_id is None


def test_a_history_that_does_not_start_with_saga_started_is_refused() -> None:
    with pytest.raises(ValueError, match="must start with SagaStarted"):
        build_timeline(History.of(recorded(compensated_order())[1:]))


def test_public_api_is_pinned_and_loads_no_driver() -> None:
    assert sorted(orchestrator.forensics.__all__) == [
        "Cause",
        "FieldChange",
        "History",
        "Kind",
        "PointError",
        "StateDiff",
        "TIMELINE_COLUMNS",
        "Timeline",
        "TimelineEntry",
        "build_timeline",
        "describe",
        "diff",
        "flatten",
        "render_html",
        "render_mermaid",
        "render_svg",
        "state_at",
    ]
    probe = (
        "import sys, orchestrator.forensics;"
        "bad = [m for m in ('confluent_kafka', 'psycopg') if m in sys.modules];"
        "sys.exit(', '.join(bad) or None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"orchestrator.forensics loads {result.stderr.strip()}"
