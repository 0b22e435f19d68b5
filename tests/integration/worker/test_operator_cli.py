"""The operator's saga commands (`sagactl saga list|history|cancel|retry|resolve`) against a
real worker, broker and database: what they print, and what the worker records when an
operator acts (an OperatorAction event naming who and why, accepted or refused)."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from confluent_kafka import KafkaException

from orchestrator.cli import sagactl
from orchestrator.cli._output import EXIT_OK, EXIT_PROBLEM, EXIT_UNREACHABLE, EXIT_USAGE
from sagas.order_services import Behaviour
from tests.integration.worker import isolated
from tests.integration.worker.conftest import EventRow, World, commands
from tests.support import eventually

Sagactl = Callable[..., Result]
FORWARD = ["reserve_credit", "reserve_inventory", "schedule_shipment"]
HISTORY_COLUMNS = ["version", "recorded_at", "event", "step", "attempt", "detail"]


@pytest.fixture
def saga_cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Sagactl:
    """`saga_cli("history", ID, ...)` runs `sagactl saga history ID ...` in-process, configured
    for the world's database, broker and saga variant.

    The world's env names `tests.integration.worker.isolated:IsolatedOrder`, which that module
    defines only when imported with SAGA_TEST_SUFFIX set (as a child worker does); here it is
    already imported, so the world's own class is put where the CLI will look it up."""
    monkeypatch.setattr(isolated, "IsolatedOrder", world.saga, raising=False)
    env = world.child_env()
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(sagactl, ["saga", *args], env=env)

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == EXIT_OK, (
        f"exit {result.exit_code}; stdout: {result.stdout!r}; stderr: {result.stderr!r}; "
        f"exception: {result.exception!r}"
    )
    return result


def one_line_error(result: Result, code: int) -> str:
    """The command failed with `code`, wrote nothing to stdout and one error line to stderr
    (click adds its usage lines to usage errors; the error itself is still one line)."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"crashed instead of reporting: {result.exception!r}"
    )
    assert result.stdout == ""
    errors = [
        line for line in result.stderr.splitlines() if line.startswith(("sagactl: ", "Error: "))
    ]
    assert len(errors) == 1, result.stderr
    return errors[0]


def history_json(cli: Sagactl, saga_id: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """(rows, state line) of `saga history --output json` (the state line goes to stderr
    there, so stdout stays one JSON document)."""
    result = ok(cli("history", saga_id, "--output", "json", *extra))
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    [state] = [line for line in result.stderr.splitlines() if line.startswith("state: ")]
    return rows, state


def recorded_at(world: World, saga_id: str) -> list[datetime]:
    """The full-precision recording instant of each event of the stream, by version."""
    with psycopg.connect(world.app_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT recorded_at FROM events WHERE stream_id = %s ORDER BY version", (saga_id,)
        ).fetchall()
    return [row[0] for row in rows]


def has_event(event_type: str, **fields: Any) -> Callable[[list[EventRow]], bool]:
    def ready(rows: list[EventRow]) -> bool:
        return any(
            row.event_type == event_type
            and all(row.data.get(key) == value for key, value in fields.items())
            for row in rows
        )

    return ready


def operator_actions(rows: list[EventRow]) -> list[dict[str, Any]]:
    return [row.data for row in rows if row.event_type == "OperatorAction"]


def assert_refused_and_nothing_changed(
    world: World, saga_id: str, before: list[EventRow], action: str, detail: str
) -> None:
    """The worker recorded the action as refused, and that event is all it recorded."""
    world.wait_events(
        saga_id, has_event("OperatorAction", action=action, accepted=False), f"refused {action}"
    )
    # The reply topic is the control messages' topic: once it is committed, the worker has
    # decided everything sent so far, so a later event could only be a bug.
    world.wait_committed([world.saga.reply_topic])
    rows = world.events([saga_id])
    assert [r.event_type for r in rows[: len(before)]] == [r.event_type for r in before]
    assert [r.event_type for r in rows[len(before) :]] == ["OperatorAction"], rows[len(before) :]
    refusal = rows[-1].data
    assert (refusal["accepted"], refusal["detail"]) == (False, detail)


def reply_topic_count(world: World, timeout: float = 15.0) -> int:
    """Records on the world's reply topic (the control messages' topic). The topic may be
    seconds old: until its leader is known the broker answers NOT_LEADER, so ask again."""
    topic = world.saga.reply_topic
    return eventually(
        lambda: world.message_counts([topic])[topic],
        f"the record count of {topic}",
        until=lambda _count: True,
        timeout=timeout,
        interval=0.2,
        retry_on=(KafkaException,),
    )


def completed_saga(world: World) -> str:
    """One order saga run to completion by the world's worker and participants."""
    world.start_worker()
    world.start_participants()
    [saga_id] = world.start_orders(1)
    assert world.wait_for([saga_id]) == {saga_id: "completed"}
    return saga_id


def waiting_at_inventory(world: World) -> str:
    """A saga whose inventory step waits for a reply that never comes (the step timeout is
    the stock 30 s, longer than any of these tests)."""
    world.start_worker()
    world.start_participants(inventory=Behaviour(silence_rate=1.0))
    [saga_id] = world.start_orders(1)
    world.wait_events(
        saga_id, has_event("CommandIssued", step="reserve_inventory"), "inventory command"
    )
    world.wait_for([saga_id], lambda status: status == "running", what="running")
    return saga_id


# --- reading: list and history ---------------------------------------------------------------


def test_list_shows_a_completed_saga_in_table_and_json_and_filters_by_status(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = completed_saga(world)
    business_key = world.order(0).order_id

    table = ok(saga_cli("list")).stdout.splitlines()
    assert table[0].split() == ["saga_id", "type", "status", "step", "business_key", "updated_at"]
    [line] = [line for line in table[1:] if line.startswith(saga_id)]
    assert line.split()[:5] == [
        saga_id,
        world.saga.name,
        "completed",
        "schedule_shipment",
        business_key,
    ]

    [row] = json.loads(ok(saga_cli("list", "--output", "json")).stdout)
    assert {k: row[k] for k in ("saga_id", "type", "status", "step", "business_key")} == {
        "saga_id": saga_id,
        "type": world.saga.name,
        "status": "completed",
        "step": "schedule_shipment",
        "business_key": business_key,
    }
    assert datetime.fromisoformat(row["updated_at"]).tzinfo is not None

    completed = json.loads(ok(saga_cli("list", "--status", "completed", "--output", "json")).stdout)
    assert [r["saga_id"] for r in completed] == [saga_id]
    for other in ("running", "compensated", "parked"):
        listed = ok(saga_cli("list", "--status", other, "--output", "json")).stdout
        assert json.loads(listed) == [], other
    # An empty table is still a table: the header and nothing else.
    empty = ok(saga_cli("list", "--status", "cancelled")).stdout.splitlines()
    assert [line.split() for line in empty] == [table[0].split()]


def test_history_lists_the_events_and_replays_to_any_earlier_instant(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = completed_saga(world)
    stored = world.events([saga_id])
    # Event format 3 (2's timers inside CommandIssued and the replies that close them).
    assert [r.event_type for r in stored] == [
        "SagaStarted",
        *["CommandIssued", "StepSucceeded"] * 3,
        "SagaCompleted",
    ]
    assert stored[0].data["event_format"] == 3

    rows, state = history_json(saga_cli, saga_id)
    assert [(r["version"], r["event"]) for r in rows] == [(e.version, e.event_type) for e in stored]
    assert [r["step"] for r in rows] == [None, *[s for s in FORWARD for _ in (1, 2)], None]
    assert [r["attempt"] for r in rows] == [None, *[1] * 6, None]
    assert state == (
        "state: completed (definition v1; reserve_credit=succeeded, "
        "reserve_inventory=succeeded, schedule_shipment=succeeded)"
    )

    # The table: the same rows, then the state line; the detail column (last) says where the
    # format-2 timers went.
    lines = ok(saga_cli("history", saga_id)).stdout.splitlines()
    assert lines[0].split() == HISTORY_COLUMNS
    assert lines[-1] == state
    body = lines[1:-1]
    assert [line.split()[2] for line in body] == [e.event_type for e in stored]
    for line, event in zip(body, stored, strict=True):
        if event.event_type == "CommandIssued":
            fire_at = event.data["timer"]["fire_at"]
            assert line.endswith(f"timeout at {fire_at}"), line
            assert datetime.fromisoformat(fire_at) > datetime.fromisoformat(line.split()[1]), line
        elif event.event_type == "StepSucceeded":
            assert len(event.data["cancels_timers"]) == 1
            assert line.endswith("closes 1 timer"), line
        else:
            assert line.split()[-1] == "-", line  # no detail

    # Point in time: as of the instant SagaCompleted was recorded (events recorded *before*
    # it), the last reply had not been decided, so shipping is still running.
    instants = recorded_at(world, saga_id)
    cut = instants[-1]
    before = [e for e, at in zip(stored, instants, strict=True) if at < cut]
    # The last decision (shipping's reply) wrote its two events in one transaction, at one
    # instant: everything before them is what --at shows.
    assert [e.event_type for e in stored[len(before) :]] == ["StepSucceeded", "SagaCompleted"]
    past, past_state = history_json(saga_cli, saga_id, "--at", cut.isoformat())
    assert [(r["version"], r["event"]) for r in past] == [(e.version, e.event_type) for e in before]
    assert past[-1]["event"] == "CommandIssued"
    assert past[-1]["step"] == "schedule_shipment"
    assert past_state == (
        "state: running (definition v1; reserve_credit=succeeded, "
        "reserve_inventory=succeeded, schedule_shipment=running)"
    )
    # An instant in the middle of the run (here: when the first reply was recorded).
    first_reply = instants[2]
    _, early_state = history_json(saga_cli, saga_id, "--at", first_reply.isoformat())
    assert early_state == (
        "state: running (definition v1; reserve_credit=running, "
        "reserve_inventory=pending, schedule_shipment=pending)"
    )
    # And one after everything: the whole history again.
    later, later_state = history_json(saga_cli, saga_id, "--at", "2999-01-01T00:00:00+00:00")
    assert (later, later_state) == (rows, state)


def test_history_of_an_unknown_saga_or_before_it_began_is_a_one_line_error(
    world: World, saga_cli: Sagactl
) -> None:
    world.start_worker()
    world.start_participants()
    [saga_id] = world.start_orders(1)
    world.wait_for([saga_id])

    unknown = "00000000-0000-4000-8000-000000000000"
    error = one_line_error(saga_cli("history", unknown), EXIT_PROBLEM)
    assert error == f"sagactl: no events for saga {unknown}"

    started = recorded_at(world, saga_id)[0]
    error = one_line_error(saga_cli("history", saga_id, "--at", started.isoformat()), EXIT_PROBLEM)
    assert error == f"sagactl: no events for saga {saga_id}"

    # An instant without an offset is ambiguous: refused as bad usage.
    error = one_line_error(saga_cli("history", saga_id, "--at", "2026-01-01T00:00:00"), EXIT_USAGE)
    assert "--at" in error


# --- acting: cancel, resolve, retry ----------------------------------------------------------


def test_cancel_compensates_a_waiting_saga_and_records_who_and_why(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = waiting_at_inventory(world)
    reply_topic = world.saga.reply_topic
    world.wait_committed([reply_topic])
    replies = reply_topic_count(world)
    before = world.events([saga_id])

    dry = ok(
        saga_cli("cancel", saga_id, "--actor", "alice", "--reason", "customer called", "--dry-run")
    )
    prefix = f"would send saga.orchestrator.CancelSaga to {reply_topic}: "
    assert dry.stdout.startswith(prefix), dry.stdout
    assert json.loads(dry.stdout.removeprefix(prefix)) == {
        "saga_id": saga_id,
        "actor": "alice",
        "reason": "customer called",
    }
    # A dry run sends nothing: the control topic holds what it held, the stream is unchanged.
    assert reply_topic_count(world) == replies
    world.wait_committed([reply_topic])
    assert [r.event_type for r in world.events([saga_id])] == [r.event_type for r in before]

    sent = ok(saga_cli("cancel", saga_id, "--actor", "alice", "--reason", "customer called"))
    assert sent.stdout == f"sent saga.orchestrator.CancelSaga to {reply_topic}\n"
    assert world.wait_for([saga_id]) == {saga_id: "cancelled"}

    rows = world.events([saga_id])
    added = rows[len(before) :]
    [action] = operator_actions(rows)
    assert {k: action[k] for k in ("action", "actor", "reason", "accepted", "step")} == {
        "action": "cancel",
        "actor": "alice",
        "reason": "customer called",
        "accepted": True,
        "step": None,
    }
    assert action["received"]["message_type"] == "saga.orchestrator.CancelSaga"
    types = [r.event_type for r in added]
    assert types[:3] == ["OperatorAction", "StepAbandoned", "CompensationStarted"], types
    started = next(r for r in added if r.event_type == "CompensationStarted")
    assert started.data["reason"] == "cancelled"
    # Inventory never answered, but may have acted: it is compensated too, and first.
    assert started.data["plan"] == ["reserve_inventory", "reserve_credit"]
    assert [r.data["step"] for r in commands(rows, compensation=True)] == [
        "reserve_inventory",
        "reserve_credit",
    ]
    assert rows[-1].event_type == "SagaCancelled"
    assert (rows[-1].data["actor"], rows[-1].data["reason"]) == ("alice", "customer called")
    assert "schedule_shipment" not in {r.data.get("step") for r in rows}
    assert world.lifecycle(saga_id) == "cancelled"
    assert Counter((service, action) for service, _, _, action in world.effects()) == {
        ("credit", "reserve"): 1,
        ("credit", "release"): 1,
        ("inventory", "release"): 1,
    }

    lines = ok(saga_cli("history", saga_id)).stdout.splitlines()
    [operator_line] = [line for line in lines if " OperatorAction " in line]
    assert operator_line.endswith("cancel by alice: customer called"), operator_line
    assert lines[-1].startswith("state: cancelled (")

    # Cancelling again is refused, recorded, and changes nothing.
    before = world.events([saga_id])
    ok(saga_cli("cancel", saga_id, "--actor", "bob", "--reason", "again"))
    assert_refused_and_nothing_changed(
        world, saga_id, before, "cancel", "cannot cancel a saga that is cancelled"
    )
    assert world.statuses([saga_id]) == {saga_id: "cancelled"}
    assert world.lifecycle(saga_id) == "cancelled"
    lines = ok(saga_cli("history", saga_id)).stdout.splitlines()
    refused_line = [line for line in lines if " OperatorAction " in line][-1]
    assert refused_line.endswith(
        "cancel by bob, refused (cannot cancel a saga that is cancelled): again"
    ), refused_line


def test_resolve_closes_a_stuck_saga_and_refuses_a_closed_one(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = waiting_at_inventory(world)
    before = world.events([saga_id])
    [inventory] = [c for c in commands(before) if c.data["step"] == "reserve_inventory"]
    timer_id = inventory.data["timer"]["timer_id"]

    dry = ok(
        saga_cli(
            "resolve", saga_id, "--outcome", "compensated", "--actor", "sre", "--reason", "by hand",
            "--dry-run",
        )
    )  # fmt: skip
    assert dry.stdout.startswith("would send saga.orchestrator.ResolveSaga to "), dry.stdout
    world.wait_committed([world.saga.reply_topic])
    assert len(world.events([saga_id])) == len(before)

    ok(
        saga_cli(
            "resolve", saga_id, "--outcome", "compensated", "--actor", "sre",
            "--reason", "released by hand in the warehouse",
        )
    )  # fmt: skip
    rows = world.wait_events(saga_id, has_event("SagaResolved"), "SagaResolved")
    added = rows[len(before) :]
    # The pending inventory timeout is cancelled: it must not fire a retry into a closed saga.
    assert [(r.event_type, r.data.get("timer_id")) for r in added] == [
        ("OperatorAction", None),
        ("TimerCancelled", timer_id),
        ("SagaResolved", None),
    ]
    action = added[0].data
    assert (action["action"], action["actor"], action["accepted"]) == ("resolve", "sre", True)
    assert action["reason"] == "released by hand in the warehouse"
    assert added[-1].data == {
        "outcome": "compensated",
        "actor": "sre",
        "reason": "released by hand in the warehouse",
    }
    assert world.lifecycle(saga_id) == "compensated"
    _, state = history_json(saga_cli, saga_id)
    assert state.startswith("state: compensated (definition v1; reserve_credit=succeeded, ")
    world.wait_committed([world.saga.reply_topic])
    with psycopg.connect(world.app_url, autocommit=True) as conn:
        timer = conn.execute(
            "SELECT status FROM timers WHERE stream_id = %s AND timer_id = %s",
            (saga_id, timer_id),
        ).fetchone()
    assert timer == ("cancelled",)

    # A closed saga cannot be resolved again, not even to another outcome.
    before = world.events([saga_id])
    ok(
        saga_cli(
            "resolve", saga_id, "--outcome", "completed", "--actor", "sre", "--reason", "oops",
        )
    )  # fmt: skip
    assert_refused_and_nothing_changed(
        world, saga_id, before, "resolve", "the saga is already compensated"
    )
    assert world.lifecycle(saga_id) == "compensated"


def test_resolving_a_completed_saga_is_refused_and_changes_nothing(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = completed_saga(world)
    before = world.events([saga_id])

    ok(saga_cli("resolve", saga_id, "--outcome", "failed", "--actor", "sre", "--reason", "test"))
    assert_refused_and_nothing_changed(
        world, saga_id, before, "resolve", "the saga is already completed"
    )
    assert world.statuses([saga_id]) == {saga_id: "completed"}
    assert world.lifecycle(saga_id) == "completed"
    _, state = history_json(saga_cli, saga_id)
    assert state.startswith("state: completed (")


def test_a_resolved_saga_is_listed_with_its_outcome(world: World, saga_cli: Sagactl) -> None:
    saga_id = waiting_at_inventory(world)
    ok(saga_cli("resolve", saga_id, "--outcome", "failed", "--actor", "sre", "--reason", "r"))
    world.wait_events(saga_id, has_event("SagaResolved"), "SagaResolved")
    world.wait_committed([world.saga.reply_topic])
    assert world.lifecycle(saga_id) == "failed"
    [row] = json.loads(ok(saga_cli("list", "--output", "json")).stdout)
    assert row["status"] == "failed"


def test_retry_reruns_the_failed_step_once_the_service_is_fixed(
    world: World, saga_cli: Sagactl
) -> None:
    world.start_worker()
    world.start_participants(credit=Behaviour(failure_rate=1.0))
    [saga_id] = world.start_orders(1)
    assert world.wait_for([saga_id]) == {saga_id: "failed"}
    before = world.events([saga_id])
    assert before[-1].event_type == "SagaFailed"

    # Only the step that failed can be retried.
    ok(saga_cli("retry", saga_id, "--step", "reserve_inventory", "--actor", "sre", "--reason", "r"))
    assert_refused_and_nothing_changed(
        world,
        saga_id,
        before,
        "retry",
        "the failed step is 'reserve_credit', not 'reserve_inventory'",
    )
    assert world.statuses([saga_id]) == {saga_id: "failed"}

    # The credit service is fixed (restarted behaving), then the operator retries.
    for thread in world.threads:
        thread.stop()
    world.threads.clear()
    world.start_participants()
    before = world.events([saga_id])
    dry = ok(
        saga_cli(
            "retry", saga_id, "--step", "reserve_credit", "--actor", "sre",
            "--reason", "limit raised", "--dry-run",
        )
    )  # fmt: skip
    assert dry.stdout.startswith("would send saga.orchestrator.RetryStep to "), dry.stdout
    assert '"step":"reserve_credit"' in dry.stdout
    ok(
        saga_cli(
            "retry", saga_id, "--step", "reserve_credit", "--actor", "sre",
            "--reason", "limit raised",
        )
    )  # fmt: skip
    assert world.wait_for([saga_id], lambda s: s == "completed", what="completed") == {
        saga_id: "completed"
    }

    rows = world.events([saga_id])
    added = rows[len(before) :]
    assert [r.event_type for r in added[:3]] == ["OperatorAction", "StepRetried", "CommandIssued"]
    action = added[0].data
    assert (action["action"], action["step"], action["accepted"]) == (
        "retry",
        "reserve_credit",
        True,
    )
    assert (action["actor"], action["reason"]) == ("sre", "limit raised")
    assert [(c.data["step"], c.data["attempt"]) for c in commands(rows)] == [
        ("reserve_credit", 1),
        ("reserve_credit", 2),
        ("reserve_inventory", 1),
        ("schedule_shipment", 1),
    ]
    assert rows[-1].event_type == "SagaCompleted"
    # The rejected attempt had no effect; the retried one reserved once.
    assert Counter((service, action) for service, _, _, action in world.effects()) == {
        ("credit", "reserve"): 1,
        ("inventory", "reserve"): 1,
        ("shipping", "reserve"): 1,
    }


# --- bad input -------------------------------------------------------------------------------


def test_bad_operator_input_is_a_one_line_error_and_sends_nothing(
    world: World, saga_cli: Sagactl
) -> None:
    saga_id = "00000000-0000-4000-8000-000000000001"

    error = one_line_error(
        saga_cli("resolve", saga_id, "--outcome", "bogus", "--actor", "a", "--reason", "r"),
        EXIT_USAGE,
    )
    assert "--outcome" in error
    assert "bogus" in error
    error = one_line_error(saga_cli("cancel", saga_id, "--reason", "r"), EXIT_USAGE)
    assert "--actor" in error
    error = one_line_error(saga_cli("retry", saga_id, "--actor", "a", "--reason", "r"), EXIT_USAGE)
    assert "--step" in error
    error = one_line_error(saga_cli("list", "--output", "yaml"), EXIT_USAGE)
    assert "--output" in error

    # A saga id that cannot exist is bad usage, said in one line (not a traceback).
    bad = "not a saga id!"
    for command in (
        ["history", bad],
        ["cancel", bad, "--actor", "a", "--reason", "r"],
        ["retry", bad, "--step", "reserve_credit", "--actor", "a", "--reason", "r"],
        ["resolve", bad, "--outcome", "failed", "--actor", "a", "--reason", "r"],
    ):
        error = one_line_error(saga_cli(*command), EXIT_USAGE)
        assert "SAGA_ID" in error, error
        assert repr(bad) in error, error

    # A well-formed id of no saga: the operation found a problem.
    for command in (
        ["cancel", saga_id, "--actor", "a", "--reason", "r"],
        ["retry", saga_id, "--step", "reserve_credit", "--actor", "a", "--reason", "r"],
        ["resolve", saga_id, "--outcome", "failed", "--actor", "a", "--reason", "r"],
    ):
        error = one_line_error(saga_cli(*command), EXIT_PROBLEM)
        assert error == f"sagactl: no saga {saga_id}"

    assert reply_topic_count(world) == 0
    assert world.event_count() == 0


@pytest.mark.parametrize(
    "args",
    [
        ["saga", "list"],
        ["saga", "history", "6e400865-457a-5668-b7b4-69337f1c19a5"],
        ["saga", "cancel", "6e400865-457a-5668-b7b4-69337f1c19a5", "--actor", "a", "--reason", "r"],
        ["db", "verify"],
    ],
    ids=["list", "history", "cancel", "verify"],
)
def test_an_unreachable_database_is_one_line_and_exit_3_at_once(args: list[str]) -> None:
    # A port nothing listens on: the real connection attempt is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://saga:saga@127.0.0.1:{port}/saga"
    started = time.monotonic()
    result = CliRunner().invoke(
        sagactl, args, env={"SAGA_DATABASE_URL": url, "SAGA_OWNER_DATABASE_URL": url}
    )
    assert time.monotonic() - started < 10, "an operator should not wait out a pool timeout"
    message = one_line_error(result, EXIT_UNREACHABLE)
    assert message.startswith("sagactl: PostgreSQL unreachable: "), message
    assert "refused" in message, message
    assert result.stderr.strip() == message, "no retry warnings around the one line"
