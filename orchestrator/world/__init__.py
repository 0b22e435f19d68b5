"""The in-memory world: the real worker, relay, timer poller and participants in one process,
on in-memory Kafka and stores and a virtual clock, so a whole saga with real participant
handlers runs in milliseconds. The same `SagaWorld` runs on PostgreSQL and Kafka when given a
stack of the PostgreSQL adapters and a real bootstrap (tests/world, `--real-stack`)."""

from orchestrator.world._clock import VirtualClock
from orchestrator.world._stack import Stack, memory_stack
from orchestrator.world._world import SagaWorld, WorldError

__all__ = ["SagaWorld", "Stack", "VirtualClock", "WorldError", "memory_stack"]
