"""The in-memory broker against the Kafka contract, plus what only it needs to say."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orchestrator.config import Settings
from orchestrator.kafka import MEMORY_SCHEME, Consumer, MemoryBroker, consumer_config
from tests.kafka_contract import KafkaContract


class TestMemoryBroker(KafkaContract):
    @pytest.fixture
    def settings(self) -> Iterator[Settings]:
        name = f"contract-{uuid.uuid4().hex[:8]}"
        yield Settings(kafka_bootstrap=f"{MEMORY_SCHEME}{name}")
        MemoryBroker.forget(name)


def test_one_consumer_per_group_is_all_it_serves() -> None:
    settings = Settings(kafka_bootstrap=f"{MEMORY_SCHEME}single-{uuid.uuid4().hex[:8]}")
    first = Consumer(consumer_config(settings, group_id="g", client_id="a"))
    first.subscribe(["t"])
    second = Consumer(consumer_config(settings, group_id="g", client_id="b"))
    with pytest.raises(NotImplementedError, match="one consumer per group"):
        second.subscribe(["t"])
    first.close()
    second.subscribe(["t"])  # the group is free again once the first left
    second.close()
