"""Property: whatever the delays, timeouts, rejections and redeliveries, a participant makes each
step's effect at most once, and every effect the saga did not keep is undone.

The saga runs in the SagaTestKit on its virtual clock; its commands go, with the relay's own
headers, through the real participant SDK (`Participant.handle_batch` over a MemoryInbox,
sometimes several records in one batch), and the replies come back with the headers the SDK set
(step, attempt, message id). In between, a simulated network delays every command, handler and
reply at random (often beyond the step timeouts, so attempts are retried and steps abandoned)
and delivers some of them twice. Compensations are sometimes rejected (nothing undone), so they
are retried under new step keys.

The effects are counted per (saga, step) from the handlers' own log, not per step key: a wrong
key (one per attempt, say) shows up as a second reservation of the same step.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_store import RecordedEvent
from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.messages import Message, register_schema_dir
from orchestrator.participant import CommandContext, MemoryInbox, Participant
from orchestrator.runtime import ConsumedRecord, command_headers
from orchestrator.saga import SagaStatus, Step, events
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

register_schema_dir(Path(__file__).parent / "schemas")


class UndoRejected(Message, avro_name="saga.tests.property.UndoRejected"):
    """A participant's answer that it did not undo anything (yet): the saga retries."""

    order_id: str
    reason: str


class RejectableOrder(OrderFulfilment):
    """Order fulfilment whose compensations can be answered with UndoRejected."""

    name = "order_fulfilment_rejectable_undo"
    steps = tuple(
        replace(s, compensate=replace(s.compensate, rejected=(UndoRejected,)))
        for s in OrderFulfilment.steps
        if isinstance(s, Step) and s.compensate is not None
    )


DEFINITION = RejectableOrder.definition
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
    effects: list[tuple[str, str, str]] = field(default_factory=list)  # saga, step, action
    pending: list[tuple[datetime, int, str, Any]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)
    participants: dict[str, Participant] = field(default_factory=dict)
    # Message ids of the compensation deliveries the undo handler rejects. Drawn before the
    # batch is handled: a draw inside a handler would run under the SDK's error handling.
    rejected: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for step_name, service in SERVICE_OF_STEP.items():
            step = DEFINITION.steps[step_name]
            assert step.compensation is not None
            command, ok, no, undo, undone = SERVICES[service]
            says_no = self.data.draw(st.integers(0, 4), label=f"{service} says no") == 0
            participant = Participant(
                service, settings=Settings(), codec=self.codec, inbox=MemoryInbox()
            )
            participant.handles(command, topic=step.topic)(self.forward_handler(ok, no, says_no))
            participant.handles(undo, topic=step.compensation.topic)(self.undo_handler(undone))
            self.participants[service] = participant

    def held(self, saga_id: str, step: str) -> int:
        """Reservations this step holds now, by the handlers' own log."""
        done = Counter(a for s, t, a in self.effects if (s, t) == (saga_id, step))
        return done["reserve"] - done["release"]

    def forward_handler(
        self, ok: type[Message], no: type[Message], says_no: bool
    ) -> Callable[[Message, CommandContext], Message]:
        def forward(command: Message, ctx: CommandContext) -> Message:
            if says_no:
                return no.model_validate({"order_id": "o-1", "reason": "no"})
            self.effects.append((ctx.saga_id, step_of(ctx), "reserve"))
            return reply_of(ok)

        return forward

    def undo_handler(self, undone: type[Message]) -> Callable[[Message, CommandContext], Message]:
        def undo(command: Message, ctx: CommandContext) -> Message:
            if ctx.message_id in self.rejected:
                return UndoRejected(order_id="o-1", reason="locked")  # nothing undone
            if self.held(ctx.saga_id, step_of(ctx)) > 0:  # nothing to undo is fine
                self.effects.append((ctx.saga_id, step_of(ctx), "release"))
            return undone.model_validate({"order_id": "o-1"})

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

    def handle(self, batch: list[ConsumedRecord], now: datetime) -> None:
        """One handle_batch call of the participant the records are addressed to."""
        participant = self.participants[service_of(batch[0])]
        for record in batch:
            if record.header(h.COMMAND_KIND) == h.COMMAND_KIND_COMPENSATE:
                if self.data.draw(st.integers(0, 3), label="undo rejected") == 0:
                    self.rejected.add(str(record.header(h.MESSAGE_ID)))
                else:
                    self.rejected.discard(str(record.header(h.MESSAGE_ID)))
        replies, failed = participant.handle_batch(
            [(record, *participant.decode(record)) for record in batch]
        )
        assert failed == []
        for reply in replies:
            self.schedule(now + self.delay("reply delay"), "reply", reply)
            if self.data.draw(st.integers(0, 3), label="reply redelivered") == 0:
                self.schedule(now + self.delay("redelivery delay") * 2, "reply", reply)


def service_of(record: ConsumedRecord) -> str:
    return SERVICE_OF_STEP[str(record.header(h.STEP))]


def step_of(ctx: CommandContext) -> str:
    assert ctx.step is not None
    return ctx.step


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


def commands_due_with(world: World, first: ConsumedRecord, timers: list[datetime]) -> int:
    """How many of the next pending messages could go into one batch with `first`: commands
    to the same participant, due before any timer (so the clock may move on to them)."""
    count = 0
    for due, _, kind, item in sorted(world.pending):
        if kind != "command" or service_of(item) != service_of(first):
            break
        if timers and due >= min(timers):
            break
        count += 1
    return count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_each_step_is_executed_once_and_what_was_not_kept_is_compensated(
    data: st.DataObject,
) -> None:
    kit = SagaTestKit(RejectableOrder)
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
            # Sometimes the consumer hands the participant several records at once.
            batch = [item]
            more = data.draw(st.integers(0, 3), label="batched with it")
            for _ in range(min(more, commands_due_with(world, item, timers))):
                due, _, _, record = heapq.heappop(world.pending)
                kit.advance(max(due - kit.clock.now(), timedelta(0)))  # still before any timer
                batch.append(record)
            world.handle(batch, kit.clock.now())
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
    # Per (saga, step), whatever keys the commands carried: one reservation at most.
    per_step = Counter((saga, step) for saga, step, action in world.effects if action == "reserve")
    assert all(n == 1 for n in per_step.values()), f"a step ran twice: {world.effects}"
    if run.status is SagaStatus.COMPLETED:
        assert set(per_step) == {(run.saga_id, name) for name in SERVICE_OF_STEP}, world.effects
        assert all(action == "reserve" for _, _, action in world.effects), world.effects
    elif run.status in (SagaStatus.COMPENSATED, SagaStatus.FAILED):
        # (compensation_failed stops compensating and waits for an operator.) Every
        # reservation is released, including one made after the release meant to undo it.
        for saga, step in per_step:
            assert world.held(saga, step) == 0, f"{run.status}: {step} kept {world.effects}"
