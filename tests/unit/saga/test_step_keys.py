"""Step keys: one per intent of a step (and another for its compensation), pinned, written into
every CommandIssued of a format-3 saga and into none of a format-1/2 one (whose commands are
deduplicated on their message id); a new intent only after a failure reply; and CommandRefused
as a failure of the attempt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from event_store import RecordedEvent
from orchestrator import headers as h
from orchestrator.runtime import command_headers
from orchestrator.saga import CommandRefused, RetryPolicy, SagaStatus, compensation, events, step, step_key_for
from orchestrator.saga._ids import NAMESPACE
from orchestrator.testing import SagaRun, SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReserved,
    InventoryUnavailable,
    PlaceOrder,
    ReleaseCredit,
    ReserveCredit,
    ReserveInventory,
    ShipmentRejected,
    ShipmentScheduled,
)

ORDER = PlaceOrder(
    order_id="o-9", customer_id="c-9", sku="S", quantity=1, amount_cents=700, address="A"
)
SAGA = "e6e0151d-18c3-5226-b9a7-b7d12263ce31"  # saga_id_for("order_fulfilment", "o-9")


def test_known_step_keys_never_change() -> None:
    assert step_key_for(SAGA, "reserve_credit", compensation=False) == str(
        uuid.uuid5(NAMESPACE, f"step\x1f{SAGA}\x1freserve_credit\x1fexecute")
    )
    assert step_key_for(SAGA, "reserve_credit", compensation=True, epoch=3) == str(
        uuid.uuid5(NAMESPACE, f"step\x1f{SAGA}\x1freserve_credit\x1fcompensate\x1f3")
    )
    # The values themselves: a participant in another language may compute them.
    assert step_key_for(SAGA, "reserve_credit", compensation=False) == (
        "0609caae-e9ee-5d5a-8877-8d2ec4de7832"
    )


def test_step_keys_are_distinct_per_kind_epoch_step_and_saga() -> None:
    keys = {
        step_key_for(saga, name, compensation=comp, epoch=epoch)
        for saga in (SAGA, "other")
        for name in ("reserve_credit", "reserve_inventory")
        for comp in (False, True)
        for epoch in (1, 2, 3)
    }
    assert len(keys) == 2 * 2 * 2 * 3


@pytest.fixture
def run() -> SagaRun:
    return SagaTestKit(OrderFulfilment).start(ORDER)


def test_every_attempt_after_a_timeout_keeps_the_step_key(run: SagaRun) -> None:
    first = run.outstanding[0]
    run.advance(timedelta(seconds=31))  # timeout, then the retry timer fires
    run.advance(timedelta(seconds=2))
    second = run.outstanding[0]
    assert (second.step, second.attempt) == ("reserve_credit", 2)
    assert second.message_id != first.message_id  # unique per attempt, for tracing
    assert (
        second.step_key
        == first.step_key
        == step_key_for(run.saga_id, "reserve_credit", compensation=False)
    )
    # Format 3: every command's event says its key (the relay sends what it says).
    issued = run.events_of(events.CommandIssued)
    assert [e.to_new_event().data["step_key"] for e in issued] == [first.step_key] * 2


def test_the_compensation_has_a_key_of_its_own(run: SagaRun) -> None:
    run.when(CreditReserved(order_id="o-9", reservation_id="r"))
    execute = run.commands[0]
    run.when(InventoryUnavailable(order_id="o-9", reason="none"))
    (undo,) = run.outstanding
    assert undo.kind == "compensate"
    assert execute.kind == "execute"
    assert undo.step_key == step_key_for(run.saga_id, "reserve_credit", compensation=True)
    assert undo.step_key != execute.step_key


def test_an_operator_retry_after_a_failure_reply_starts_a_new_intent(run: SagaRun) -> None:
    first = run.outstanding[0]
    run.when(CreditRejected(order_id="o-9", reason="limit"))
    out = run.retry("reserve_credit")
    (again,) = out.commands
    assert again.attempt == 2
    assert again.step_key == step_key_for(
        run.saga_id, "reserve_credit", compensation=False, epoch=2
    )
    assert again.step_key != first.step_key
    issued = out.expect_event(events.CommandIssued)
    assert issued.to_new_event().data["step_key"] == again.step_key
    # It times out: the retry continues the operator's intent.
    run.advance(timedelta(seconds=31))
    run.advance(timedelta(seconds=2))
    third = run.outstanding[0]
    assert (third.attempt, third.step_key) == (3, again.step_key)
    run.when(CreditReserved(order_id="o-9", reservation_id="r"))
    assert run.instance.steps["reserve_credit"].epoch == 2


def test_an_operator_retry_after_timeouts_keeps_the_step_key(run: SagaRun) -> None:
    # Every attempt timed out, any of them may have run at a slow participant: the retried
    # command must be answered with that execution's reply, not execute again.
    first = run.outstanding[0]
    run.kit.settle()  # no reply ever: the step fails, its compensation fails
    assert run.status is SagaStatus.COMPENSATION_FAILED
    failed = run.events_of(events.StepFailed)[0]
    assert isinstance(failed, events.StepFailed)
    assert failed.reason == "timed_out"
    undo = [c for c in run.commands if c.compensation]
    assert len({c.step_key for c in undo}) == 1
    (again,) = run.retry("reserve_credit").commands
    assert again.compensation
    assert again.attempt == undo[-1].attempt + 1
    assert again.step_key == undo[0].step_key
    assert again.step_key == step_key_for(run.saga_id, "reserve_credit", compensation=True)
    assert all(c.step_key == first.step_key for c in run.commands if not c.compensation)


def test_a_refusal_starts_no_new_intent(run: SagaRun) -> None:
    first = run.outstanding[0]
    refused = CommandRefused(saga_id=run.saga_id, step="reserve_credit", reason="compensated")
    run.when(refused, step="reserve_credit", attempt=1)
    assert run.status is SagaStatus.FAILED
    (again,) = run.retry("reserve_credit").commands
    assert (again.attempt, again.step_key) == (2, first.step_key)


@pytest.mark.parametrize("event_format", [1, 2])
def test_formats_1_and_2_write_no_step_key_and_dedupe_per_attempt(event_format: int) -> None:
    run = SagaTestKit(OrderFulfilment, event_format=event_format).start(ORDER)
    run.when(CreditRejected(order_id="o-9", reason="limit"))  # a failure reply, then a retry
    run.retry("reserve_credit")
    run.advance(timedelta(seconds=31))
    run.advance(timedelta(seconds=2))
    assert run.instance.event_format == event_format
    issued = run.events_of(events.CommandIssued)
    assert len(issued) == 3
    assert all("step_key" not in e.to_new_event().data for e in issued)
    # What the relay sends for them: the message id, unique per attempt, as before format 3.
    assert [c.step_key for c in run.commands] == [c.message_id for c in run.commands]


def test_the_relay_sends_the_step_key_the_event_carries_or_the_message_id() -> None:
    def recorded(data: dict[str, object]) -> RecordedEvent:
        return RecordedEvent(
            position=1, stream_id=SAGA, stream_type="order_fulfilment", version=1,
            event_type="CommandIssued", schema_version=1, data=data, metadata={},
            recorded_at=datetime(2024, 1, 1, tzinfo=UTC), hash="",
        )  # fmt: skip

    run = SagaTestKit(OrderFulfilment).start(ORDER)
    (command,) = run.commands
    (issued,) = run.events_of(events.CommandIssued)
    data = dict(issued.to_new_event().data)
    sent = dict(command_headers(recorded(data)))
    assert sent[h.STEP_KEY] == data["step_key"] == command.step_key
    del data["step_key"]  # as a format-2 saga writes it
    sent = dict(command_headers(recorded(data)))
    assert sent[h.STEP_KEY] == data["message_id"] == sent[h.MESSAGE_ID]


class RefusableRelease(OrderFulfilment):
    # A test-only saga whose credit compensation can be answered with a failure.
    name = "refusable_release_keys"
    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            compensate=compensation(
                ReleaseCredit,
                confirmed=CreditReleased,
                rejected=InventoryUnavailable,
                retry=RetryPolicy(max_attempts=3),
            ),
            timeout=timedelta(seconds=5),
        ),
        step(
            "reserve_inventory",
            ReserveInventory,
            to="inv",
            success=InventoryReserved,
            failure=ShipmentRejected,
            timeout=timedelta(seconds=5),
        ),
    )


def test_a_rejected_compensation_is_retried_under_a_new_key_a_timed_out_one_is_not() -> None:
    kit = SagaTestKit(RefusableRelease)
    run = kit.start(ORDER)
    run.when(CreditReserved(order_id="o-9", reservation_id="r"))
    run.when(ShipmentRejected(order_id="o-9", reason="x"))
    first = run.outstanding[0]
    run.when(InventoryUnavailable(order_id="o-9", reason="locked"))  # rejected: nothing done
    kit.advance(timedelta(seconds=2))
    second = run.outstanding[0]
    assert (second.attempt, second.compensation) == (2, True)
    assert second.step_key == step_key_for(
        run.saga_id, "reserve_credit", compensation=True, epoch=2
    )
    assert second.step_key != first.step_key
    kit.advance(timedelta(seconds=6))  # times out: the retry may not run it again
    kit.advance(timedelta(seconds=3))
    third = run.outstanding[0]
    assert (third.attempt, third.step_key) == (3, second.step_key)
    run.when(CreditReleased(order_id="o-9"))
    assert run.status is SagaStatus.COMPENSATED


def test_a_refusal_of_the_awaited_attempt_fails_the_step_and_compensates(run: SagaRun) -> None:
    run.when(CreditReserved(order_id="o-9", reservation_id="r"))
    refused = CommandRefused(saga_id=run.saga_id, step="reserve_inventory", reason="compensated")
    out = run.when(refused, step="reserve_inventory", attempt=1)
    failed = out.expect_event(events.StepFailed)
    assert (failed.step, failed.attempt, failed.reason) == ("reserve_inventory", 1, "refused")
    out.expect_event(events.CompensationStarted)
    assert [(c.step, c.compensation) for c in out.commands] == [("reserve_credit", True)]
    run.when(CreditReleased(order_id="o-9"))
    assert run.status is SagaStatus.COMPENSATED


def test_a_refusal_of_any_other_attempt_is_a_late_reply(run: SagaRun) -> None:
    refused = CommandRefused(saga_id=run.saga_id, step="reserve_credit", reason="compensated")
    run.when(refused, step="reserve_credit", attempt=7).expect_ignored("late_reply")
    run.when(refused, step="no_such_step", attempt=1).expect_ignored("uncorrelated")
    run.when(CreditReserved(order_id="o-9", reservation_id="r"))
    run.when(refused, step="reserve_credit", attempt=1).expect_ignored("late_reply")
    run.when(InventoryReserved(order_id="o-9", reservation_id="i"))
    run.when(ShipmentScheduled(order_id="o-9", shipment_id="s"))
    assert run.status is SagaStatus.COMPLETED
