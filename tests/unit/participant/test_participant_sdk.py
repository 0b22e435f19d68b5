"""The participant SDK on its own: handlers declared for saga steps, their replies checked, and
the in-memory test client with the real inbox semantics (repeats, compensation first)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from event_store._model import RecordedEvent
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.messages import Message
from orchestrator.participant import (
    CommandContext,
    HandlerDeclarationError,
    HandlerFailedError,
    MemoryInbox,
    Participant,
    ParticipantTestClient,
)
from orchestrator.runtime._relay import command_headers
from orchestrator.saga import CommandRefused, SagaStatus, Topics
from orchestrator.testing import IssuedCommand, SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    PlaceOrder,
    ReleaseCredit,
    ReserveCredit,
    ReserveInventory,
    ShipmentScheduled,
)
from sagas.order_services import SERVICES, Behaviour, order_service

ORDER = PlaceOrder(
    order_id="o-1", customer_id="c-1", sku="S", quantity=1, amount_cents=900, address="A"
)


def codec() -> Codec:
    return Codec(SchemaRegistryClient.new_client({"url": "mock://participant-sdk"}))


def credit(inbox: MemoryInbox | None = None) -> Participant:
    return Participant("credit", settings=Settings(), codec=codec(), inbox=inbox or MemoryInbox())


def test_a_step_handler_takes_command_and_topic_from_the_step() -> None:
    isolated = OrderFulfilment.variant(name="order_sdk", topics=Topics(prefix="sdk."))
    participant = credit()

    @participant.executes(isolated, "reserve_credit")
    def reserve(command: ReserveCredit, ctx: CommandContext) -> CreditReserved:
        return CreditReserved(order_id=command.order_id, reservation_id="r")

    @participant.compensates(isolated, "reserve_credit")
    def release(command: ReleaseCredit, ctx: CommandContext) -> CreditReleased:
        return CreditReleased(order_id=command.order_id)

    assert participant.topics == ["sdk.credit.commands"]
    assert participant.reply_types == {CreditReserved, CreditRejected, CreditReleased}


def test_a_handler_annotated_with_a_reply_the_step_does_not_accept_is_refused() -> None:
    participant = credit()
    with pytest.raises(
        HandlerDeclarationError,
        match=r"may return ShipmentScheduled, which step reserve_credit of order_fulfilment "
        r"does not accept \(it accepts CreditReserved, CreditRejected\)",
    ):

        @participant.executes(OrderFulfilment, "reserve_credit")
        def reserve(
            command: ReserveCredit, ctx: CommandContext
        ) -> CreditReserved | ShipmentScheduled:
            raise AssertionError("never called")


def test_a_handler_of_another_command_is_refused() -> None:
    participant = credit()
    with pytest.raises(HandlerDeclarationError, match="takes ReserveInventory, but step"):

        @participant.executes(OrderFulfilment, "reserve_credit")
        def reserve(command: ReserveInventory, ctx: CommandContext) -> None:
            return None


def test_a_handler_for_a_step_that_does_not_exist_or_cannot_be_undone_is_refused() -> None:
    participant = credit()
    with pytest.raises(HandlerDeclarationError, match=r"no step 'reserve_cash'"):
        participant.executes(OrderFulfilment, "reserve_cash")(lambda c, x: None)
    no_undo = OrderFulfilment.variant(
        name="order_no_undo", adjust=lambda s: dataclasses.replace(s, compensate=None)
    )
    with pytest.raises(HandlerDeclarationError, match="has no compensation"):
        participant.compensates(no_undo, "reserve_credit")(lambda c, x: None)


def first_command(kit: SagaTestKit) -> tuple[IssuedCommand, str]:
    run = kit.start(ORDER)
    return run.outstanding[0], run.saga_id


def send(client: ParticipantTestClient, command: IssuedCommand, saga_id: str) -> list[Message]:
    record = client.record(
        command,
        saga_id=saga_id,
        saga_type="order_fulfilment",
        reply_topic="order_fulfilment.replies",
    )
    return [a.message for a in client.deliver(record)]


def test_a_reply_of_a_wrong_type_at_run_time_fails_the_handler_instead_of_being_sent() -> None:
    participant = credit()
    calls: list[str] = []

    @participant.executes(OrderFulfilment, "reserve_credit")
    def reserve(command: ReserveCredit, ctx: CommandContext) -> Message:
        calls.append(ctx.message_id)
        return ShipmentScheduled(order_id=command.order_id, shipment_id="s")

    client = ParticipantTestClient(participant)
    command, saga_id = first_command(SagaTestKit(OrderFulfilment))
    with pytest.raises(
        HandlerFailedError, match=r"returned ShipmentScheduled; step reserve_credit"
    ):
        send(client, command, saga_id)
    # Not recorded as handled: once the handler is fixed, the redelivered command runs.
    assert calls
    participant._by_topic.clear()

    @participant.executes(OrderFulfilment, "reserve_credit")
    def fixed(command: ReserveCredit, ctx: CommandContext) -> CreditReserved:
        return CreditReserved(order_id=command.order_id, reservation_id="r")

    assert send(client, command, saga_id) == [CreditReserved(order_id="o-1", reservation_id="r")]


def test_the_client_answers_a_repeated_step_with_the_recorded_reply() -> None:
    participant = credit()
    runs: list[int] = []

    @participant.executes(OrderFulfilment, "reserve_credit")
    def reserve(command: ReserveCredit, ctx: CommandContext) -> CreditReserved:
        runs.append(ctx.attempt or 0)
        return CreditReserved(order_id=command.order_id, reservation_id=f"r-{len(runs)}")

    client = ParticipantTestClient(participant)
    command, saga_id = first_command(SagaTestKit(OrderFulfilment))
    first = send(client, command, saga_id)
    again = send(client, command, saga_id)  # a redelivery
    assert first == again == [CreditReserved(order_id="o-1", reservation_id="r-1")]
    assert runs == [1]


def test_an_execute_overtaken_by_its_compensation_is_refused() -> None:
    participant = credit()

    @participant.executes(OrderFulfilment, "reserve_credit")
    def reserve(command: ReserveCredit, ctx: CommandContext) -> CreditReserved:
        raise AssertionError("must not run after its compensation")

    @participant.compensates(OrderFulfilment, "reserve_credit")
    def release(command: ReleaseCredit, ctx: CommandContext) -> CreditReleased:
        return CreditReleased(order_id=command.order_id)

    kit = SagaTestKit(OrderFulfilment)
    run = kit.start(ORDER)
    execute = run.outstanding[0]
    run.cancel()
    [undo] = run.outstanding
    client = ParticipantTestClient(participant)
    assert send(client, undo, run.saga_id) == [CreditReleased(order_id="o-1")]
    [refusal] = send(client, execute, run.saga_id)
    assert isinstance(refusal, CommandRefused)


def test_the_client_sends_the_headers_the_relay_sends() -> None:
    kit = SagaTestKit(OrderFulfilment)
    run = kit.start(ORDER)
    command = run.outstanding[0]
    issued = run.history[1]
    event = RecordedEvent(
        position=2,
        stream_id=run.saga_id,
        stream_type="order_fulfilment",
        version=2,
        event_type="CommandIssued",
        schema_version=1,
        data=issued.to_new_event().data,
        metadata={},
        recorded_at=datetime.now(UTC),
        hash="",
    )
    relayed = [
        (name, v.encode() if isinstance(v, str) else v) for name, v in command_headers(event)
    ]
    client = ParticipantTestClient(credit())
    record = client.record(
        command,
        saga_id=run.saga_id,
        saga_type="order_fulfilment",
        reply_topic=OrderFulfilment.reply_topic,
    )
    assert record.headers == relayed


def services(behaviours: dict[str, Behaviour] | None = None) -> list[ParticipantTestClient]:
    shared = codec()
    return [
        ParticipantTestClient(
            order_service(
                service,
                settings=Settings(),
                codec=shared,
                inbox=MemoryInbox(),
                behaviour=(behaviours or {}).get(service, Behaviour()),
            )
        )
        for service in SERVICES
    ]


def test_the_kit_runs_the_order_saga_against_the_real_service_handlers() -> None:
    kit = SagaTestKit(OrderFulfilment, participants=services())
    run = kit.start(ORDER)
    kit.drive()
    assert run.status is SagaStatus.COMPLETED
    assert run.state.shipment_id is not None  # type: ignore[attr-defined]


def test_the_kit_compensates_against_the_real_handlers() -> None:
    kit = SagaTestKit(
        OrderFulfilment, participants=services({"shipping": Behaviour(failure_rate=1.0)})
    )
    run = kit.start(ORDER)
    kit.drive()
    assert run.status is SagaStatus.COMPENSATED
    assert [c.step for c in run.commands if c.compensation] == [
        "reserve_inventory",
        "reserve_credit",
    ]


def test_the_kit_retries_a_silent_service_then_compensates_what_may_have_run() -> None:
    silent = {"inventory": Behaviour(silence_rate=1.0)}
    kit = SagaTestKit(OrderFulfilment, participants=services(silent))
    run = kit.start(ORDER)
    kit.drive()
    while run.status is SagaStatus.RUNNING:
        kit.advance(timedelta(seconds=30))  # timeouts and back-offs; each new attempt is silent
        kit.drive()
    assert run.status is SagaStatus.COMPENSATED
    assert [c.attempt for c in run.commands if c.step == "reserve_inventory"] == [1, 2, 3, 1]
    assert [c.step for c in run.commands if c.compensation] == [
        "reserve_inventory",
        "reserve_credit",
    ]
