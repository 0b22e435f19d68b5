"""What the kit needs of a participant to run a saga against its real handlers in memory.

The participant SDK's ``ParticipantTestClient`` is one (``orchestrator.participant``); this
module names only the protocol, so the author-level kit imports no Kafka or database client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from orchestrator.messages import Message
from orchestrator.testing._outcome import IssuedCommand


@dataclass(frozen=True, slots=True)
class Answer:
    """A participant's reply as the worker would receive it: the message and the correlation
    headers the SDK set (its message id, and the step and attempt it echoes)."""

    message: Message
    message_id: str
    step: str | None
    attempt: int | None


class Responder(Protocol):
    """Something that answers commands sent to some topics, as a participant service does."""

    def answers(self, topic: str) -> bool:
        """Whether a handler of this responder consumes ``topic``."""
        ...

    def answer(
        self, command: IssuedCommand, *, saga_id: str, saga_type: str, reply_topic: str
    ) -> Answer | None:
        """Handle one command as the relay would send it; None when no reply is sent."""
        ...
