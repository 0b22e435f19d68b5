"""The Kafka runtime: worker loop, outbox relay, timers, dead letters, topics."""

from orchestrator.runtime._app import App, build_codec, load_sagas
from orchestrator.runtime._dead_letters import DeadLetter, DeadLetterError, DeadLetterPublisher
from orchestrator.runtime._dlq import (
    DeadLetterNotFoundError,
    DeadLetterView,
    Redrive,
    read_dead_letters,
    read_one,
    redrive,
)
from orchestrator.runtime._processor import BatchOutcome, Inbound, SagaProcessor
from orchestrator.runtime._record import ConsumedRecord
from orchestrator.runtime._relay import LeaderLease, OutboxRelay, TimerPoller
from orchestrator.runtime._topics import TopicSpec, dead_letter_topic, ensure_topics
from orchestrator.runtime._worker import Routes, Worker

__all__ = [
    "App",
    "BatchOutcome",
    "ConsumedRecord",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterPublisher",
    "DeadLetterView",
    "Inbound",
    "LeaderLease",
    "OutboxRelay",
    "Redrive",
    "Routes",
    "SagaProcessor",
    "TimerPoller",
    "TopicSpec",
    "Worker",
    "build_codec",
    "dead_letter_topic",
    "ensure_topics",
    "load_sagas",
    "read_dead_letters",
    "read_one",
    "redrive",
]
