"""Participant SDK: what a Kafka-connected microservice uses to execute saga commands and to
start sagas. See `Participant` for a complete example."""

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

__all__ = [
    "CommandContext",
    "HandlerFailedError",
    "Inbox",
    "MemoryInbox",
    "Participant",
    "PostgresInbox",
    "SagaStarter",
    "StartNotAcknowledgedError",
    "StoredReply",
    "reply_message_id",
    "start_message_id",
]
