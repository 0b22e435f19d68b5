"""Hostile payloads travel through the real broker and come back as typed decode errors.

Each case produces its bytes with a plain confluent_kafka Producer (as a buggy or malicious
service would), consumes them back, and decodes them with the built-in registry in PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from orchestrator.codec import (
    Codec,
    DecodeError,
    EmptyValueError,
    MalformedPayloadError,
    MessageTooLargeError,
    PostgresSchemaRegistryClient,
    TrailingBytesError,
    TruncatedHeaderError,
    TruncatedPayloadError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    ValidationFailedError,
    WrongMagicByteError,
)
from tests.support import eventually
from tests.unit.codec.codec_samples import ReserveStock, StockReserved, typical_command

ONE_MIB = 1024 * 1024
ACCEPTED = (ReserveStock,)


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    admin: AdminClient
    created: list[str] = field(default_factory=list)

    def topic(self, name: str) -> str:
        # Room for the oversized case: the broker must accept what the codec refuses.
        futures = self.admin.create_topics(
            [NewTopic(name, 1, 1, config={"max.message.bytes": str(4 * ONE_MIB)})]
        )
        futures[name].result(timeout=30)
        self.created.append(name)
        return name

    def round_trip(self, topic: str, value: bytes) -> bytes | None:
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "message.max.bytes": 4 * ONE_MIB, "acks": "all"}
        )
        producer.produce(topic, value=value, key=b"saga-1")
        assert producer.flush(30) == 0
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"{topic}-reader",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        try:
            consumer.subscribe([topic])
            # poll() itself blocks for up to a second: no pause between polls.
            message = eventually(
                lambda: consumer.poll(1.0),
                f"a message back from {topic}",
                until=lambda polled: polled is not None,
                timeout=60,
                interval=0.0,
            )
            assert message is not None
            assert message.error() is None, message.error()
            return message.value()
        finally:
            consumer.close()


@pytest.fixture(scope="module")
def broker(kafka_bootstrap: str) -> Iterator[Broker]:
    broker = Broker(kafka_bootstrap, AdminClient({"bootstrap.servers": kafka_bootstrap}))
    yield broker
    if broker.created:  # the dev broker is shared: leave it as we found it
        for future in broker.admin.delete_topics(broker.created).values():
            future.result(timeout=30)


@pytest.fixture
def codec(pg_registry: PostgresSchemaRegistryClient) -> Codec:
    return Codec(pg_registry)


def other_service_bytes(codec: Codec, topic: str, record: dict[str, object]) -> bytes:
    """Valid Confluent Avro from a service that does not run our pydantic validation."""
    serializer = AvroSerializer(
        codec.registry,
        ReserveStock.avro_schema.schema_str,
        conf={"subject.name.strategy.type": "TOPIC_RECORD"},
    )
    data = serializer(record, SerializationContext(topic, MessageField.VALUE))
    assert isinstance(data, bytes)
    return data


Payload = Callable[[Codec, str], bytes]

CASES: dict[str, tuple[Payload, type[DecodeError]]] = {
    "wrong magic byte": (
        lambda codec, topic: b"\x01" + codec.encode(topic, typical_command())[1:],
        WrongMagicByteError,
    ),
    "unknown schema id": (
        lambda codec, topic: b"\x00\x7f\xff\xff\xfe" + codec.encode(topic, typical_command())[5:],
        UnknownSchemaIdError,
    ),
    "truncated bytes": (
        lambda codec, topic: codec.encode(topic, typical_command())[:-20],
        TruncatedPayloadError,
    ),
    "truncated header": (lambda codec, topic: b"\x00\x00\x00", TruncatedHeaderError),
    "empty value": (lambda codec, topic: b"", EmptyValueError),
    "trailing bytes": (
        lambda codec, topic: codec.encode(topic, typical_command()) + b"\x00" * 7,
        TrailingBytesError,
    ),
    "two bodies back to back": (
        lambda codec, topic: (
            codec.encode(topic, typical_command(1)) + codec.encode(topic, typical_command(2))[5:]
        ),
        TrailingBytesError,
    ),
    "random garbage": (
        lambda codec, topic: os.urandom(512).replace(b"\x00", b"\x01"),
        WrongMagicByteError,
    ),
    "garbage after a valid header": (
        lambda codec, topic: codec.encode(topic, typical_command())[:5] + b"\xff" * 64,
        MalformedPayloadError,
    ),
    "forged string length": (
        # zigzag varint for 2**40: a length no allocation may honour
        lambda codec, topic: (
            codec.encode(topic, typical_command())[:5] + b"\x80\x80\x80\x80\x80\x40abc"
        ),
        TruncatedPayloadError,
    ),
    "over the size limit": (
        lambda codec, topic: codec.encode(topic, typical_command()) + b"\x00" * ONE_MIB,
        MessageTooLargeError,
    ),
    "valid avro failing validation": (
        lambda codec, topic: other_service_bytes(
            codec, topic, typical_command().to_avro_dict() | {"quantity": 0}
        ),
        ValidationFailedError,
    ),
    "known schema on the wrong topic": (
        lambda codec, topic: codec.encode(
            f"{topic}.replies", StockReserved(order_id="o-1", reservation_id="r-1")
        ),
        UnexpectedMessageTypeError,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_payload_from_the_broker_is_a_typed_decode_error(
    broker: Broker, codec: Codec, unique: str, case: str
) -> None:
    make_payload, expected = CASES[case]
    topic = broker.topic(f"codec-hostile-{unique}")
    sent = make_payload(codec, topic)
    received = broker.round_trip(topic, sent)
    assert received == sent
    with pytest.raises(expected) as caught:
        codec.decode(topic, received, accepted=ACCEPTED)
    assert type(caught.value) is expected
    assert caught.value.reason == expected.reason
    assert caught.value.topic == topic


def test_a_good_message_survives_the_broker(broker: Broker, codec: Codec, unique: str) -> None:
    topic = broker.topic(f"codec-good-{unique}")
    message = typical_command(42)
    received = broker.round_trip(topic, codec.encode(topic, message))
    assert codec.decode(topic, received, accepted=ACCEPTED) == message
