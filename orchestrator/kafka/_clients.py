"""The Kafka clients the orchestrator constructs: confluent-kafka's, or, when `bootstrap.servers`
is `memory://<name>`, the in-memory broker's of that name (`MemoryBroker`), the way the schema
registry client answers `mock://` URLs. The choice is made by configuration alone
(SAGA_KAFKA_BOOTSTRAP), so the worker, the relay and the participant SDK run unchanged on both.
"""

from __future__ import annotations

from typing import Any, Final

import confluent_kafka
from confluent_kafka import admin as kafka_admin

MEMORY_SCHEME: Final = "memory://"


def is_memory(config: dict[str, Any]) -> bool:
    return str(config.get("bootstrap.servers", "")).startswith(MEMORY_SCHEME)


class Consumer(confluent_kafka.Consumer):
    def __new__(cls, config: dict[str, Any], /, **kwargs: Any) -> Consumer:
        if cls is Consumer and is_memory(config):
            from orchestrator.kafka._memory import MemoryConsumer  # noqa: PLC0415 - cycle

            return super().__new__(MemoryConsumer)
        return super().__new__(cls)


class Producer(confluent_kafka.Producer):
    def __new__(cls, config: dict[str, Any], /, **kwargs: Any) -> Producer:
        if cls is Producer and is_memory(config):
            from orchestrator.kafka._memory import MemoryProducer  # noqa: PLC0415 - cycle

            return super().__new__(MemoryProducer)
        return super().__new__(cls)


class AdminClient(kafka_admin.AdminClient):
    def __new__(cls, config: dict[str, Any], /, **kwargs: Any) -> AdminClient:
        if cls is AdminClient and is_memory(config):
            from orchestrator.kafka._memory import MemoryAdmin  # noqa: PLC0415 - cycle

            return super().__new__(MemoryAdmin)
        return super().__new__(cls)
