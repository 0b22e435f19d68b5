"""The real broker against the Kafka contract the in-memory broker is held to."""

from __future__ import annotations

import pytest

from orchestrator.config import Settings
from tests.kafka_contract import KafkaContract


class TestKafkaBroker(KafkaContract):
    @pytest.fixture
    def settings(self, kafka_bootstrap: str) -> Settings:
        return Settings(kafka_bootstrap=kafka_bootstrap)
