"""The Kafka contract: what the orchestrator relies on from a broker, one suite for the real
broker (tests/integration/runtime/test_kafka_broker.py) and the in-memory one
(tests/unit/runtime/test_memory_broker.py), so the in-memory world cannot promise what Kafka
does not keep."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Message, TopicPartition

from orchestrator.config import Settings
from orchestrator.kafka import (
    AdminClient,
    ConsumedRecord,
    Consumer,
    Producer,
    TopicSpec,
    admin_config,
    consumer_config,
    ensure_topics,
    producer_config,
    records_of,
    store_offsets,
)

PARTITIONS = 3


class KafkaContract:
    """Abstract: `settings` points at the broker under test."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    @pytest.fixture
    def topic(self, settings: Settings) -> str:
        name = f"contract-{uuid.uuid4().hex[:10]}"
        ensure_topics(AdminClient(admin_config(settings)), [TopicSpec(name, PARTITIONS, 1)])
        return name

    @staticmethod
    def produce(settings: Settings, topic: str, *keys: str) -> list[ConsumedRecord]:
        """Produce one record per key (value: key and index) and wait for the acks."""
        producer = Producer(producer_config(settings, client_id="contract"))
        delivered: list[ConsumedRecord] = []

        def on_delivery(error: object, message: Message) -> None:
            assert error is None, error
            delivered.append(ConsumedRecord.from_message(message))

        for index, key in enumerate(keys):
            producer.produce(
                topic,
                key=key.encode(),
                value=f"{key}:{index}".encode(),
                headers=[("message_id", f"m-{index}".encode())],
                on_delivery=on_delivery,
            )
        assert producer.flush(30) == 0, "not every record was acknowledged"
        return delivered

    @staticmethod
    def consumer(settings: Settings, group: str, topic: str) -> Consumer:
        consumer = Consumer(consumer_config(settings, group_id=group, client_id="contract"))
        consumer.subscribe([topic])
        return consumer

    @staticmethod
    def read(consumer: Consumer, count: int, within_s: float = 30.0) -> list[ConsumedRecord]:
        records: list[ConsumedRecord] = []
        deadline = time.monotonic() + within_s
        while len(records) < count:
            assert time.monotonic() < deadline, f"read {len(records)} of {count} records"
            message = consumer.poll(0.2)
            if message is not None:
                records.extend(records_of([message])[0])
        return records

    def test_acks_name_the_partition_and_offset_and_a_key_keeps_its_partition(
        self, settings: Settings, topic: str
    ) -> None:
        delivered = self.produce(settings, topic, "a", "b", "a", "c", "a")
        assert len({r.partition for r in delivered if r.key == b"a"}) == 1
        consumer = self.consumer(settings, f"g-{uuid.uuid4().hex[:8]}", topic)
        try:
            read = self.read(consumer, 5)
        finally:
            consumer.close()
        assert {(r.partition, r.offset) for r in read} == {
            (r.partition, r.offset) for r in delivered
        }
        of_a = [r for r in read if r.key == b"a"]
        assert [r.value for r in of_a] == [b"a:0", b"a:2", b"a:4"], "one key, one order"
        assert of_a[0].header("message_id") == "m-0"

    def test_a_group_resumes_after_the_offsets_it_stored(
        self, settings: Settings, topic: str
    ) -> None:
        self.produce(settings, topic, "k", "k", "k")
        group = f"g-{uuid.uuid4().hex[:8]}"
        first = self.consumer(settings, group, topic)
        try:
            handled = self.read(first, 2)
            store_offsets(first, handled[:1])  # the second was read but never made durable
        finally:
            first.close()
        second = self.consumer(settings, group, topic)
        try:
            again = self.read(second, 2)
        finally:
            second.close()
        assert [r.value for r in again] == [b"k:1", b"k:2"]

    def test_pause_holds_a_partition_and_seek_rewinds_it(
        self, settings: Settings, topic: str
    ) -> None:
        delivered = self.produce(settings, topic, "p", "p")
        consumer = self.consumer(settings, f"g-{uuid.uuid4().hex[:8]}", topic)
        try:
            first = self.read(consumer, 2)
            partition = TopicPartition(topic, first[0].partition)
            consumer.seek(TopicPartition(topic, first[0].partition, first[0].offset))
            consumer.pause([partition])
            self.produce(settings, topic, "p")
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                assert consumer.poll(0.1) is None, "a paused partition delivers nothing"
            consumer.resume([partition])
            rewound = self.read(consumer, 3)
        finally:
            consumer.close()
        assert [r.offset for r in rewound] == [
            delivered[0].offset,
            delivered[1].offset,
            delivered[1].offset + 1,
        ]
