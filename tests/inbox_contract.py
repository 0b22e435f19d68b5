"""The participant-inbox contract: one suite every `Inbox` implementation must pass, driven
through the real SDK (`Participant.handle_batch`), so that what is checked is what a service
gets: one execution per step key, repeats answered with the recorded reply re-addressed to the
asking attempt, a compensation's tombstone refusing a late command, and a second transaction on
the same step waiting for the first and then taking its answer.

Subclasses provide `new_inbox()` (a fresh handle on ONE shared, initially empty inbox: for
PostgreSQL a new connection to the same database, as a second participant instance would have)
and `wait_until_blocked()` (until some transaction of that inbox waits for another one):
tests/unit/participant/test_memory_inbox.py and
tests/integration/participant/test_postgres_inbox.py.
"""

from __future__ import annotations

import threading

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.messages import Message
from orchestrator.participant import (
    CommandContext,
    Inbox,
    Participant,
    StoredReply,
    reply_message_id,
)
from orchestrator.runtime import ConsumedRecord
from orchestrator.saga import CommandRefused, command_message_id, step_key_for
from sagas.order_messages import CreditReleased, CreditReserved, ReleaseCredit, ReserveCredit
from tests.support import Background

COMMANDS = "credit.commands.contract"
COMPENSATIONS = "credit.compensations.contract"
REPLIES = "order.replies.contract"
SAGA = "3c1d7f0e-0000-5000-8000-000000000001"
STEP = "reserve_credit"


def command_record(
    attempt: int,
    *,
    compensation: bool = False,
    saga_id: str = SAGA,
    step_key: str | None = "derive",
    offset: int = 0,
    codec: Codec,
) -> ConsumedRecord:
    """A command as the relay publishes it (headers of command_headers)."""
    message: Message
    if compensation:
        message = ReleaseCredit(order_id="o-1", customer_id="c", amount_cents=5)
    else:
        message = ReserveCredit(order_id="o-1", customer_id="c", amount_cents=5)
    topic = COMPENSATIONS if compensation else COMMANDS
    message_id = command_message_id(saga_id, STEP, attempt, compensation=compensation)
    headers = [
        (h.MESSAGE_ID, message_id),
        (h.SAGA_ID, saga_id),
        (h.SAGA_TYPE, "order_contract"),
        (h.STEP, STEP),
        (h.ATTEMPT, str(attempt)),
        (h.REPLY_TOPIC, REPLIES),
        (h.CORRELATION_ID, f"corr-{saga_id}"),
        (h.CAUSATION_ID, f"cause-{attempt}"),
        (h.TRACEPARENT, f"00-{attempt:032x}-{attempt:016x}-01"),
        (h.COMMAND_KIND, "compensate" if compensation else "execute"),
    ]
    if step_key == "derive":
        headers.append((h.STEP_KEY, step_key_for(saga_id, STEP, compensation=compensation)))
    elif step_key is not None:
        headers.append((h.STEP_KEY, step_key))
    return ConsumedRecord(
        topic=topic,
        partition=0,
        offset=offset,
        key=saga_id.encode(),
        value=codec.encode(topic, message),
        headers=[(k, v.encode()) for k, v in headers],
        timestamp_ms=-1,
    )


class Service:
    """A credit service on one inbox handle: counts how often each handler really ran."""

    def __init__(self, inbox: Inbox, codec: Codec, *, hold: threading.Event | None = None) -> None:
        self.executed: list[str] = []  # message ids of the commands whose handler ran
        self.compensated: list[str] = []
        self.entered = threading.Event()  # a handler has started (and is held, if `hold`)
        self.codec = codec
        self.participant = Participant(
            "credit", settings=Settings(), codec=codec, inbox=inbox, handler_attempts=1
        )
        self.failing = False
        self.silent = False  # the execute handler answers with no reply

        @self.participant.handles(ReserveCredit, topic=COMMANDS)
        def reserve(command: ReserveCredit, ctx: CommandContext) -> Message | None:
            self.entered.set()
            if hold is not None:
                assert hold.wait(30), "the test never released the held handler"
            if self.failing:
                raise RuntimeError("credit ledger says no")
            self.executed.append(ctx.message_id)
            if self.silent:
                return None
            return CreditReserved(order_id=command.order_id, reservation_id=f"r-{ctx.step_key}")

        @self.participant.handles(ReleaseCredit, topic=COMPENSATIONS)
        def release(command: ReleaseCredit, ctx: CommandContext) -> Message:
            self.entered.set()
            if hold is not None:
                assert hold.wait(30), "the test never released the held handler"
            self.compensated.append(ctx.message_id)
            return CreditReleased(order_id=command.order_id)

    def handle(
        self, *records: ConsumedRecord
    ) -> tuple[list[StoredReply], list[tuple[ConsumedRecord, BaseException]]]:
        batch = [(r, *self.participant.decode(r)) for r in records]
        return self.participant.handle_batch(batch)

    def decode_reply(self, reply: StoredReply) -> Message:
        return self.codec.decode(
            reply.topic, reply.value, accepted=[CreditReserved, CreditReleased, CommandRefused]
        )


def header(reply: StoredReply, name: str) -> str | None:
    values = [v.decode() for k, v in reply.headers if k == name]
    assert len(values) <= 1, f"{name} appears {len(values)} times"
    return values[0] if values else None


def assert_addressed_to(reply: StoredReply, command: ConsumedRecord) -> None:
    """The reply answers exactly this command: its attempt, its id as causation."""
    asked = command.header(h.MESSAGE_ID)
    assert asked is not None
    assert reply.message_id == asked
    assert header(reply, h.MESSAGE_ID) == reply_message_id(asked)
    assert header(reply, h.CAUSATION_ID) == asked
    for echoed in (h.SAGA_ID, h.SAGA_TYPE, h.STEP, h.ATTEMPT, h.CORRELATION_ID, h.TRACEPARENT):
        assert header(reply, echoed) == command.header(echoed), echoed
    assert reply.topic == REPLIES
    assert reply.key == SAGA.encode()


class InboxContract:
    def new_inbox(self) -> Inbox:
        raise NotImplementedError

    def wait_until_blocked(self) -> None:
        raise NotImplementedError

    @pytest.fixture
    def codec(self) -> Codec:
        return Codec(SchemaRegistryClient.new_client({"url": "mock://inbox-contract"}))

    @pytest.fixture
    def service(self, codec: Codec) -> Service:
        return Service(self.new_inbox(), codec)

    # --- one execution per step key ---------------------------------------------------------

    def test_a_new_step_is_executed_and_its_reply_recorded(
        self, service: Service, codec: Codec
    ) -> None:
        first = command_record(1, codec=codec)
        replies, failed = service.handle(first)
        assert failed == []
        assert service.executed == [first.header(h.MESSAGE_ID)]
        (reply,) = replies
        assert_addressed_to(reply, first)
        assert isinstance(service.decode_reply(reply), CreditReserved)

    def test_a_later_attempt_of_the_step_is_answered_with_the_recorded_reply(
        self, service: Service, codec: Codec
    ) -> None:
        first, second = command_record(1, codec=codec), command_record(2, codec=codec, offset=1)
        (original,), _ = service.handle(first)
        (repeat,), _ = service.handle(second)
        assert service.executed == [first.header(h.MESSAGE_ID)]  # attempt 2 never ran
        assert (repeat.topic, repeat.key, repeat.value) == (
            original.topic,
            original.key,
            original.value,
        )
        assert_addressed_to(repeat, second)  # attempt 2's headers: the worker takes it
        assert header(repeat, h.ATTEMPT) == "2"
        # A redelivery of attempt 1 still gets attempt 1's address.
        (again,), _ = service.handle(first)
        assert_addressed_to(again, first)
        assert again.value == original.value

    def test_a_second_instance_takes_the_first_ones_answer(self, codec: Codec) -> None:
        one, two = Service(self.new_inbox(), codec), Service(self.new_inbox(), codec)
        one.handle(command_record(1, codec=codec))
        second = command_record(2, codec=codec)
        (reply,), _ = two.handle(second)
        assert two.executed == []
        assert len(one.executed) == 1
        assert_addressed_to(reply, second)

    def test_attempts_of_one_step_in_one_batch_run_once(
        self, service: Service, codec: Codec
    ) -> None:
        first, second = command_record(1, codec=codec), command_record(2, codec=codec, offset=1)
        replies, _ = service.handle(first, second)
        assert len(service.executed) == 1
        assert [header(r, h.ATTEMPT) for r in replies] == ["1", "2"]
        assert replies[0].value == replies[1].value

    def test_a_new_intent_has_a_new_key_and_runs_again(
        self, service: Service, codec: Codec
    ) -> None:
        service.handle(command_record(1, codec=codec))
        retried = step_key_for(SAGA, STEP, compensation=False, epoch=2)
        service.handle(command_record(2, codec=codec, step_key=retried))
        assert len(service.executed) == 2

    def test_a_command_without_a_step_key_is_deduplicated_by_message_id(
        self, service: Service, codec: Codec
    ) -> None:
        hand_sent = command_record(1, codec=codec, step_key=None)
        service.handle(hand_sent)
        (again,), _ = service.handle(hand_sent)
        assert len(service.executed) == 1
        assert_addressed_to(again, hand_sent)
        other = command_record(2, codec=codec, step_key=None)
        service.handle(other)  # another message id, and no step key to say it is the same step
        assert len(service.executed) == 2

    def test_a_command_recorded_by_message_id_before_the_upgrade_counts_as_handled(
        self, service: Service, codec: Codec
    ) -> None:
        # What the release before step keys recorded: the command under its message id.
        (before,), _ = service.handle(command_record(1, codec=codec, step_key=None))
        upgraded = command_record(1, codec=codec)  # the same command, redelivered after it
        (reply,), _ = service.handle(upgraded)
        assert len(service.executed) == 1
        assert reply.value == before.value
        # ...and the step key has adopted that answer for later attempts.
        (later,), _ = service.handle(command_record(2, codec=codec))
        assert len(service.executed) == 1
        assert later.value == before.value

    def test_a_handler_that_fails_leaves_the_step_unclaimed(
        self, service: Service, codec: Codec
    ) -> None:
        service.failing = True
        record = command_record(1, codec=codec)
        replies, failed = service.handle(record)
        assert replies == []
        assert [r for r, _ in failed] == [record]
        service.failing = False
        (reply,), failed = service.handle(record)  # redriven from the dead-letter topic
        assert failed == []
        assert len(service.executed) == 1
        assert isinstance(service.decode_reply(reply), CreditReserved)

    # --- a compensation that overtakes its command -------------------------------------------

    def test_a_compensation_first_refuses_the_late_command_for_good(
        self, service: Service, codec: Codec
    ) -> None:
        undo = command_record(1, codec=codec, compensation=True)
        (released,), _ = service.handle(undo)
        assert isinstance(service.decode_reply(released), CreditReleased)
        assert len(service.compensated) == 1  # the undo runs (it finds nothing to undo)
        late = command_record(1, codec=codec, offset=1)
        (refusal,), _ = service.handle(late)
        assert service.executed == []
        assert service.decode_reply(refusal) == CommandRefused(
            saga_id=SAGA, step=STEP, reason="compensated"
        )
        assert_addressed_to(refusal, late)
        # Stored like any reply: a redelivery, or another attempt, gets the same answer.
        (again,), _ = service.handle(command_record(2, codec=codec, offset=2))
        assert again.value == refusal.value
        assert header(again, h.ATTEMPT) == "2"
        assert service.executed == []

    def test_a_compensation_of_another_step_or_saga_refuses_nothing(
        self, service: Service, codec: Codec
    ) -> None:
        service.handle(command_record(1, codec=codec, compensation=True, saga_id="other-saga"))
        service.handle(command_record(1, codec=codec))
        assert len(service.executed) == 1

    def test_a_compensation_after_the_command_undoes_it_and_keeps_its_reply(
        self, service: Service, codec: Codec
    ) -> None:
        (done,), _ = service.handle(command_record(1, codec=codec))
        service.handle(command_record(1, codec=codec, compensation=True))
        assert len(service.executed) == len(service.compensated) == 1
        (again,), _ = service.handle(command_record(1, codec=codec))  # redelivered late
        assert again.value == done.value  # what happened, not a refusal

    def test_a_step_that_answered_nothing_stays_silent_after_its_compensation(
        self, service: Service, codec: Codec
    ) -> None:
        service.silent = True
        assert service.handle(command_record(1, codec=codec)) == ([], [])
        service.handle(command_record(1, codec=codec, compensation=True))
        # Handled before its compensation: a redelivery is a repeat (no reply), not a refusal.
        assert service.handle(command_record(2, codec=codec)) == ([], [])
        assert len(service.executed) == len(service.compensated) == 1

    def test_a_command_and_its_compensation_in_one_batch_refuse_the_command(
        self, service: Service, codec: Codec
    ) -> None:
        late = command_record(1, codec=codec)
        undo = command_record(1, codec=codec, compensation=True, offset=1)
        (refusal, released), _ = service.handle(late, undo)
        assert service.executed == []
        assert len(service.compensated) == 1
        assert isinstance(service.decode_reply(refusal), CommandRefused)
        assert isinstance(service.decode_reply(released), CreditReleased)

    def test_a_new_intent_after_the_compensation_is_refused_too(
        self, service: Service, codec: Codec
    ) -> None:
        service.handle(command_record(1, codec=codec, compensation=True))
        retried = step_key_for(SAGA, STEP, compensation=False, epoch=2)
        (refusal,), _ = service.handle(command_record(2, codec=codec, step_key=retried))
        assert service.executed == []
        assert isinstance(service.decode_reply(refusal), CommandRefused)
        # ...and the first intent, redelivered after both, is refused as well.
        (first,), _ = service.handle(command_record(1, codec=codec))
        assert service.executed == []
        assert isinstance(service.decode_reply(first), CommandRefused)

    # --- two transactions at once --------------------------------------------------------------

    def _race(
        self, codec: Codec, first: ConsumedRecord, second: ConsumedRecord
    ) -> tuple[Service, Service, list[StoredReply]]:
        """`first` is handled by a held instance; `second`, by another instance, must wait for
        it. Returns both services and the second one's replies."""
        gate = threading.Event()
        held = Service(self.new_inbox(), codec, hold=gate)
        other = Service(self.new_inbox(), codec)
        one = Background.call(lambda: held.handle(first), name="held").start()
        try:
            assert held.entered.wait(15), "the held handler never started"
            two = Background.call(lambda: other.handle(second), name="other").start()
            self.wait_until_blocked()
            assert two.is_alive(), "the second transaction did not wait for the first"
        finally:
            gate.set()
        one.outcome(30)
        replies, failed = two.outcome(30)
        assert failed == []
        return held, other, replies

    def test_a_second_transaction_on_the_same_step_waits_then_takes_the_first_answer(
        self, codec: Codec
    ) -> None:
        first, second = command_record(1, codec=codec), command_record(2, codec=codec)
        held, other, replies = self._race(codec, first, second)
        assert len(held.executed) == 1
        assert other.executed == []
        (reply,) = replies
        assert isinstance(other.decode_reply(reply), CreditReserved)
        assert_addressed_to(reply, second)

    def test_a_command_racing_its_compensation_waits_then_is_refused(self, codec: Codec) -> None:
        undo = command_record(1, codec=codec, compensation=True)
        late = command_record(1, codec=codec)
        held, other, replies = self._race(codec, undo, late)
        assert len(held.compensated) == 1
        assert other.executed == []
        (reply,) = replies
        assert isinstance(other.decode_reply(reply), CommandRefused)

    def test_a_compensation_racing_its_command_waits_then_undoes_it(self, codec: Codec) -> None:
        command = command_record(1, codec=codec)
        undo = command_record(1, codec=codec, compensation=True)
        held, other, replies = self._race(codec, command, undo)
        assert len(held.executed) == 1
        assert len(other.compensated) == 1
        (reply,) = replies
        assert isinstance(other.decode_reply(reply), CreditReleased)
        # The command, redelivered, is answered with what it did, not refused.
        (again,), _ = other.handle(command_record(2, codec=codec))
        assert isinstance(other.decode_reply(again), CreditReserved)
        assert other.executed == []

    def test_an_epoch_two_command_racing_the_compensation_waits_then_is_refused(
        self, codec: Codec
    ) -> None:
        undo = command_record(1, codec=codec, compensation=True)
        retried = step_key_for(SAGA, STEP, compensation=False, epoch=2)
        late = command_record(2, codec=codec, step_key=retried)
        held, other, replies = self._race(codec, undo, late)
        assert len(held.compensated) == 1
        assert other.executed == []
        (reply,) = replies
        assert isinstance(other.decode_reply(reply), CommandRefused)
