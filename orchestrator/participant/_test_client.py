"""ParticipantTestClient: a participant's real handlers, run in memory.

Commands go through what the Kafka loop does with a batch, minus Kafka: the codec encodes them
(a ``mock://`` schema registry does for tests), ``Participant.decode`` reads them, and
``Participant.handle_batch`` claims their step keys in the participant's inbox, answers repeats
with the recorded reply, refuses an execute its compensation overtook, runs the handlers and
records their replies. With a ``MemoryInbox`` a whole saga runs in milliseconds; with a
``PostgresInbox`` the same calls exercise the real table.

    client = ParticipantTestClient(credit)
    kit = SagaTestKit(OrderFulfilment, participants=[client, ...])
    run = kit.start(PlaceOrder(...))
    kit.drive()                     # commands to the handlers, replies back to the saga
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from orchestrator import headers as h
from orchestrator.messages import Message
from orchestrator.participant._participant import Participant
from orchestrator.runtime import ConsumedRecord
from orchestrator.saga import CommandRefused
from orchestrator.testing import Answer, IssuedCommand


class ParticipantTestClient:
    """Runs the handlers of ``participant`` in memory; a ``Responder`` for ``SagaTestKit``."""

    def __init__(self, participant: Participant) -> None:
        self.participant = participant
        self._offsets = itertools.count()
        # Every record handed to the participant, in order: what a test inspects for headers.
        self.records: list[ConsumedRecord] = []

    def answers(self, topic: str) -> bool:
        return topic in self.participant.topics

    def answer(
        self, command: IssuedCommand, *, saga_id: str, saga_type: str, reply_topic: str
    ) -> Answer | None:
        record = self.record(command, saga_id=saga_id, saga_type=saga_type, reply_topic=reply_topic)
        answers = self.deliver(record)
        return answers[0] if answers else None

    def record(
        self, command: IssuedCommand, *, saga_id: str, saga_type: str, reply_topic: str
    ) -> ConsumedRecord:
        """The command as the outbox relay publishes it: value and headers."""
        headers: list[tuple[str, bytes]] = [
            (h.MESSAGE_ID, command.message_id.encode()),
            (h.SAGA_ID, saga_id.encode()),
            (h.SAGA_TYPE, saga_type.encode()),
            (h.STEP, command.step.encode()),
            (h.ATTEMPT, str(command.attempt).encode()),
            (h.REPLY_TOPIC, reply_topic.encode()),
            (h.CORRELATION_ID, saga_id.encode()),
            (h.CAUSATION_ID, b""),
            (h.STEP_KEY, command.step_key.encode()),
            (h.COMMAND_KIND, command.kind.encode()),
        ]
        return ConsumedRecord(
            topic=command.topic,
            partition=0,
            offset=next(self._offsets),
            key=saga_id.encode(),
            value=self.participant.codec.encode(command.topic, command.message),
            headers=headers,
            timestamp_ms=-1,
        )

    def deliver(self, *records: ConsumedRecord) -> list[Answer]:
        """Handle ``records`` as one batch; the replies to send, decoded. A command whose
        handler failed on every attempt raises the error it would be dead-lettered with."""
        self.records.extend(records)
        batch = []
        for record in records:
            registration, message = self.participant.decode(record)
            batch.append((record, registration, message))
        replies, failed = self.participant.handle_batch(batch)
        if failed:
            record, error = failed[0]
            raise error
        return [self._decoded(r.topic, r.value, r.headers) for r in replies]

    def _decoded(
        self, topic: str, value: bytes, headers: Sequence[tuple[str, bytes | str | None]]
    ) -> Answer:
        found = {name: v.decode() if isinstance(v, bytes) else v for name, v in headers}
        message: Message = self.participant.codec.decode(
            topic, value, accepted=[*self.participant.reply_types, CommandRefused]
        )
        attempt = found.get(h.ATTEMPT)
        return Answer(
            message=message,
            message_id=found.get(h.MESSAGE_ID) or "",
            step=found.get(h.STEP),
            attempt=int(attempt) if attempt else None,
        )
