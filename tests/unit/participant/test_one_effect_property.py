"""Property: whatever the delays, timeouts and redeliveries, a participant executes each step key
at most once, and every step it executed that the saga did not keep is compensated.

The saga runs in the SagaTestKit on its virtual clock; its commands go, with the relay's own
headers, through the real participant SDK (`Participant.handle_batch` over a MemoryInbox), and
the replies come back with the headers the SDK set (step, attempt, message id). In between, a
simulated network delays every command, handler and reply at random (often beyond the step
timeouts, so attempts are retried and steps abandoned) and delivers some of them twice.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store._model import RecordedEvent
from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.messages import Message
from orchestrator.participant import CommandContext, MemoryInbox, Participant
from orchestrator.runtime import ConsumedRecord
from orchestrator.runtime._relay import command_headers
from orchestrator.saga import SagaStatus, events
from orchestrator.testing import IssuedCommand, SagaRun, SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CancelShipment,
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    InventoryUnavailable,
    PlaceOrder,
    ReleaseCredit,
    ReleaseInventory,
    ReserveCredit,
    ReserveInventory,
    ScheduleShipment,
    ShipmentCancelled,
    ShipmentRejected,
    ShipmentScheduled,
)

ORDER = PlaceOrder(
    order_id="o-1", customer_id="c-1", sku="S", quantity=1, amount_cents=900, address="A"
)
DEFINITION = OrderFulfilment.definition
# service: (command, success, failure, compensation, compensated)
SERVICES: dict[str, tuple[type[Message], ...]] = {
    "credit": (ReserveCredit, CreditReserved, CreditRejected, ReleaseCredit, CreditReleased),
    "inventory": (
        ReserveInventory,
        InventoryReserved,
        InventoryUnavailable,
        ReleaseInventory,
        InventoryReleased,
    ),
    "shipping": (
        ScheduleShipment,
        ShipmentScheduled,
        ShipmentRejected,
        CancelShipment,
        ShipmentCancelled,
    ),
}
SERVICE_OF_STEP = {
    "reserve_credit": "credit",
    "reserve_inventory": "inventory",
    "schedule_shipment": "shipping",
}
# Mostly prompt, often beyond the step timeouts (30 s, 30 s and 2 min), sometimes after the
# saga has given up on the step altogether (a command overtaken by its compensation).
seconds = st.one_of(st.integers(0, 5), st.integers(0, 200), st.integers(300, 900))


@dataclass
class World:
    """The participants, their effects, and the messages in flight (by virtual due time)."""

    data: st.DataObject
    codec: Codec = field(
        default_factory=lambda: Codec(SchemaRegistryClient.new_client({"url": "mock://prop"}))
    )
    effects: list[tuple[str, str, str]] = field(default_factory=list)  # service, key, action
    pending: list[tuple[datetime, int, str, Any]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)
    participants: dict[str, Participant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for step_name, service in SERVICE_OF_STEP.items():
            step = DEFINITION.steps[step_name]
            assert step.compensation is not None
            command, ok, no, undo, undone = SERVICES[service]
            says_no = self.data.draw(st.integers(0, 4), label=f"{service} says no") == 0
            participant = Participant(
                service, settings=Settings(), codec=self.codec, inbox=MemoryInbox()
            )
            participant.handles(command, topic=step.topic)(
                self.forward_handler(service, ok, no, says_no)
            )
            participant.handles(undo, topic=step.compensation.topic)(
                self.undo_handler(service, undone)
            )
            self.participants[service] = participant

    def forward_handler(
        self, service: str, ok: type[Message], no: type[Message], says_no: bool
    ) -> Callable[[Message, CommandContext], Message]:
        def forward(command: Message, ctx: CommandContext) -> Message:
            if says_no:
                return no(order_id="o-1", reason="no")
            self.effects.append((service, intent(ctx), "reserve"))
            return reply_of(ok)

        return forward

    def undo_handler(
        self, service: str, undone: type[Message]
    ) -> Callable[[Message, CommandContext], Message]:
        def undo(command: Message, ctx: CommandContext) -> Message:
            self.effects.append((service, intent(ctx), "release"))  # nothing to undo is fine
            return undone(order_id="o-1")

        return undo

    def schedule(self, at: datetime, kind: str, item: Any) -> None:
        heapq.heappush(self.pending, (at, next(self.order), kind, item))

    def delay(self, label: str) -> timedelta:
        return timedelta(seconds=self.data.draw(seconds, label=label))

    def send_commands(self, run: SagaRun, issued: list[IssuedCommand], now: datetime) -> None:
        for command in issued:
            record = as_record(run, command, self.codec)
            self.schedule(now + self.delay("command delay"), "command", record)
            if self.data.draw(st.integers(0, 3), label="command redelivered") == 0:
                self.schedule(now + self.delay("redelivery delay") * 2, "command", record)

    def handle(self, record: ConsumedRecord, now: datetime) -> None:
        participant = self.participants[SERVICE_OF_STEP[str(record.header(h.STEP))]]
        replies, failed = participant.handle_batch([(record, *participant.decode(record))])
        assert failed == []
        for reply in replies:
            self.schedule(now + self.delay("reply delay"), "reply", reply)
            if self.data.draw(st.integers(0, 3), label="reply redelivered") == 0:
                self.schedule(now + self.delay("redelivery delay") * 2, "reply", reply)


def intent(ctx: CommandContext) -> str:
    """The step key the relay put on the command: the truth the SDK's dedup is checked
    against (not the SDK's own idea of it, `ctx.step_key`)."""
    key = ctx.record.header(h.STEP_KEY)
    assert key is not None
    return key


def reply_of(kind: type[Message]) -> Message:
    fields = {"order_id": "o-1"}
    for name in ("reservation_id", "shipment_id"):
        if name in kind.model_fields:
            fields[name] = f"{name}-1"
    return kind(**fields)


def as_record(run: SagaRun, command: IssuedCommand, codec: Codec) -> ConsumedRecord:
    """The command as the relay publishes it: its CommandIssued event through the relay's
    own `command_headers`."""
    issued = next(
        e
        for e in run.events_of(events.CommandIssued)
        if isinstance(e, events.CommandIssued) and e.message_id == command.message_id
    )
    recorded = RecordedEvent(
        position=0,
        stream_id=run.saga_id,
        stream_type=run.definition.name,
        version=0,
        event_type="CommandIssued",
        schema_version=1,
        data=issued.to_new_event().data,
        metadata={"correlation_id": run.saga_id},
        recorded_at=datetime(2024, 1, 1, tzinfo=UTC),
        hash="",
    )
    headers = [
        (k, v.encode() if isinstance(v, str) else v or b"") for k, v in command_headers(recorded)
    ]
    return ConsumedRecord(
        topic=command.topic,
        partition=0,
        offset=0,
        key=run.saga_id.encode(),
        value=codec.encode(command.topic, command.message),
        headers=headers,
        timestamp_ms=-1,
    )


def header(headers: list[tuple[str, bytes]], name: str) -> str:
    return next(v.decode() for k, v in headers if k == name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_each_step_key_is_executed_once_and_what_was_not_kept_is_compensated(
    data: st.DataObject,
) -> None:
    kit = SagaTestKit(OrderFulfilment)
    world = World(data)
    run = kit.start(ORDER)
    world.send_commands(run, list(run.last.commands), kit.clock.now())
    accepted = list(DEFINITION.message_types.values())
    for _ in range(5000):
        timers = [t.fire_at for t in run.instance.timers.values()]
        if not world.pending and not timers:
            break
        if timers and (not world.pending or min(timers) <= world.pending[0][0]):
            # A timer comes first: fire it (and whatever else is due with it).
            for outcome in kit.advance(max(min(timers) - kit.clock.now(), timedelta(0))):
                world.send_commands(run, list(outcome.commands), kit.clock.now())
            continue
        due, _, kind, item = heapq.heappop(world.pending)
        kit.advance(max(due - kit.clock.now(), timedelta(0)))  # no timer is due before it
        if kind == "command":
            world.handle(item, kit.clock.now())
        else:
            message = world.codec.decode(item.topic, item.value, accepted=accepted)
            outcome = run.when(
                message,
                step=header(item.headers, h.STEP),
                attempt=int(header(item.headers, h.ATTEMPT)),
                message_id=header(item.headers, h.MESSAGE_ID),
            )
            world.send_commands(run, list(outcome.commands), kit.clock.now())
    else:
        raise AssertionError("the simulation did not settle")

    assert run.status in (
        SagaStatus.COMPLETED,
        SagaStatus.COMPENSATED,
        SagaStatus.FAILED,
        SagaStatus.COMPENSATION_FAILED,
    )
    per_key = Counter(key for _, key, _ in world.effects)
    assert all(n == 1 for n in per_key.values()), f"a step key ran twice: {world.effects}"
    actions = {s: [a for t, _, a in world.effects if t == s] for s in SERVICES}
    if run.status is SagaStatus.COMPLETED:
        assert all(a == ["reserve"] for a in actions.values()), world.effects
    elif run.status in (SagaStatus.COMPENSATED, SagaStatus.FAILED):
        # (compensation_failed stops compensating and waits for an operator.) No reservation
        # may be left, nor come after the release that was meant to undo it.
        for service, done in actions.items():
            if "reserve" in done:
                assert done[-1] == "release", f"{run.status}: {service} kept {done}"
