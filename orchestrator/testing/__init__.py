"""Test kit for saga authors: run sagas in memory on a virtual clock, no Kafka, no Postgres."""

from orchestrator.testing._clock import VirtualClock
from orchestrator.testing._kit import SagaRun, SagaTestKit
from orchestrator.testing._outcome import IssuedCommand, Outcome

__all__ = ["IssuedCommand", "Outcome", "SagaRun", "SagaTestKit", "VirtualClock"]
