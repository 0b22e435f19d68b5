"""The Kafka runtime: worker loop, outbox relay, timers, dead letters, and the ports (with their
PostgreSQL adapters and in-memory twins) they run on."""

from orchestrator.kafka import (
    ConsumedRecord,
    DeadLetter,
    DeadLetterError,
    DeadLetterPublisher,
    TopicSpec,
    dead_letter_topic,
    ensure_topics,
)
from orchestrator.runtime._app import App, build_codec, load_sagas
from orchestrator.runtime._dlq import (
    DeadLetterNotFoundError,
    DeadLetterView,
    Redrive,
    read_dead_letters,
    read_one,
    redrive,
)
from orchestrator.runtime._leader import LeaderDuties, LeaderPorts
from orchestrator.runtime._memory import (
    MemoryLeaderLease,
    MemoryLeaderLeases,
    MemoryOutboxBacklog,
    MemoryTimers,
    ReadAllCommandLog,
)
from orchestrator.runtime._outbox import OutboxRelay, command_headers, relay_subscription
from orchestrator.runtime._ports import CommandLog, DueTimer, LeaderLease, OutboxBacklog, Timers
from orchestrator.runtime._postgres import (
    PostgresLeaderLease,
    PostgresOutboxBacklog,
    PostgresTimers,
)
from orchestrator.runtime._processor import BatchOutcome, Inbound, SagaProcessor
from orchestrator.runtime._routing import Router, Routes, RoutingError
from orchestrator.runtime._timer_poller import TimerPoller
from orchestrator.runtime._worker import Worker

__all__ = [
    "App",
    "BatchOutcome",
    "CommandLog",
    "ConsumedRecord",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterPublisher",
    "DeadLetterView",
    "DueTimer",
    "Inbound",
    "LeaderDuties",
    "LeaderLease",
    "LeaderPorts",
    "MemoryLeaderLease",
    "MemoryLeaderLeases",
    "MemoryOutboxBacklog",
    "MemoryTimers",
    "OutboxBacklog",
    "OutboxRelay",
    "PostgresLeaderLease",
    "PostgresOutboxBacklog",
    "PostgresTimers",
    "ReadAllCommandLog",
    "Redrive",
    "Router",
    "Routes",
    "RoutingError",
    "SagaProcessor",
    "TimerPoller",
    "Timers",
    "TopicSpec",
    "Worker",
    "build_codec",
    "command_headers",
    "dead_letter_topic",
    "ensure_topics",
    "load_sagas",
    "read_dead_letters",
    "read_one",
    "redrive",
    "relay_subscription",
]
