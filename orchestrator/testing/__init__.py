"""Test kit for saga authors: run sagas in memory on a virtual clock, no Kafka, no Postgres.

Given / when / then::

    kit = SagaTestKit(OrderFulfilment)
    run = kit.start(PlaceOrder(order_id="o-1", ...))           # given a started saga
    run.last.expect_commands(ReserveCredit(order_id="o-1", ...))
    run.when(CreditReserved(order_id="o-1", reservation_id="r"))  # when a reply arrives
    run.last.expect_events(StepSucceeded, CommandIssued)

    kit.advance(timedelta(seconds=31))        # the virtual clock fires due timers
    run.redeliver()                           # fault: the same message again
    run.race_timeout(InventoryReserved(...))  # fault: the timeout fires just before the reply
    run.deliver_all(reversed(envelopes))      # fault: replies reordered
    kit.settle()                              # no more replies: fire timers until none is left
    assert run.status is SagaStatus.COMPENSATED

``run.outstanding`` and ``run.commands`` hand out each command with its ``step_key`` and
``kind`` (what the relay sends as headers), so real participant handlers can be driven from the
kit; ``run.when(reply, step=, attempt=, message_id=)`` delivers a participant's reply with the
headers it set. ``kit.given(*events)`` starts from a recorded history instead of a start
command. ``SagaTestKit(saga, participants=[ParticipantTestClient(credit), ...])`` runs a saga
against real participant handlers in memory: ``kit.drive()`` delivers the outstanding commands
to them (through the SDK's real inbox semantics) and their replies back.

Replies are correlated to the outstanding command they answer (``step=``/``attempt=``
override that, to send late or stray replies). After every delivery the kit checks that the
events survive a JSON round trip and that replaying the history reproduces the live instance.
"""

from orchestrator.testing._clock import VirtualClock
from orchestrator.testing._kit import SagaRun, SagaTestKit
from orchestrator.testing._outcome import IssuedCommand, Outcome
from orchestrator.testing._participants import Answer, Responder

__all__ = [
    "Answer",
    "IssuedCommand",
    "Outcome",
    "Responder",
    "SagaRun",
    "SagaTestKit",
    "VirtualClock",
]
