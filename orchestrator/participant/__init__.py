"""Participant SDK: what a Kafka-connected microservice uses to execute saga commands and to
start sagas. See `Participant` for a complete example."""

from orchestrator.participant._handlers import HandlerDeclarationError, WrongReplyError
from orchestrator.participant._inbox import Inbox, MemoryInbox, PostgresInbox, StoredReply
from orchestrator.participant._participant import (
    CommandContext,
    HandlerFailedError,
    Participant,
    reply_message_id,
)
from orchestrator.participant._starter import (
    SagaStarter,
    StartNotAcknowledgedError,
    start_message_id,
)
from orchestrator.participant._test_client import ParticipantTestClient

__all__ = [
    "CommandContext",
    "HandlerDeclarationError",
    "HandlerFailedError",
    "Inbox",
    "MemoryInbox",
    "Participant",
    "ParticipantTestClient",
    "PostgresInbox",
    "SagaStarter",
    "StartNotAcknowledgedError",
    "StoredReply",
    "WrongReplyError",
    "reply_message_id",
    "start_message_id",
]
