"""Codec round trips and hostile input, against confluent_kafka's in-memory mock registry."""

from __future__ import annotations

import copy
import json
import struct
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.codec import (
    Codec,
    CodecSettings,
    DecodeError,
    EmptyValueError,
    EncodeError,
    MalformedPayloadError,
    MessageTooLargeError,
    RegistryUnavailableError,
    TrailingBytesError,
    TruncatedHeaderError,
    TruncatedPayloadError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    ValidationFailedError,
    WrongMagicByteError,
)
from tests.unit.codec.codec_samples import ReserveStock, StockReserved, typical_command

TOPIC = "orders.commands"
ACCEPTED = (ReserveStock, StockReserved)


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://codec-unit"})


@pytest.fixture
def codec(registry: SchemaRegistryClient) -> Codec:
    return Codec(registry)


def raw_encode(
    registry: SchemaRegistryClient, schema: dict[str, Any], record: dict[str, Any]
) -> bytes:
    """What another service's Confluent serializer would produce for `record`."""
    serializer = AvroSerializer(
        registry, json.dumps(schema), conf={"subject.name.strategy.type": "TOPIC_RECORD"}
    )
    data = serializer(record, SerializationContext(TOPIC, MessageField.VALUE))
    assert isinstance(data, bytes)
    return data


def zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_round_trip_uses_the_confluent_wire_format(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    message = typical_command(7)
    data = codec.encode(TOPIC, message)
    assert data[0] == 0
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert registry.get_schema(schema_id).schema_str == ReserveStock.avro_schema.schema_str
    assert codec.decode(TOPIC, data, accepted=ACCEPTED) == message


def test_one_topic_carries_several_types_under_topic_record_subjects(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    codec.encode(TOPIC, typical_command())
    reply = StockReserved(order_id="o-1", reservation_id="r-1")
    assert codec.decode(TOPIC, codec.encode(TOPIC, reply), accepted=ACCEPTED) == reply
    assert sorted(registry.get_subjects()) == [
        f"{TOPIC}-saga.test.codec.ReserveStock",
        f"{TOPIC}-saga.test.codec.StockReserved",
    ]


def test_subject_strategy_is_configurable(registry: SchemaRegistryClient) -> None:
    codec = Codec(registry, CodecSettings(subject_name_strategy="RECORD"))
    codec.encode(TOPIC, typical_command())
    assert registry.get_subjects() == ["saga.test.codec.ReserveStock"]


def test_a_record_written_with_an_older_schema_reads_with_defaults(
    codec: Codec, registry: SchemaRegistryClient
) -> None:
    old = copy.deepcopy(dict(ReserveStock.avro_schema.schema))
    old["fields"] = [f for f in old["fields"] if f["name"] not in {"note", "backup_line", "lines"}]
    data = raw_encode(
        registry,
        old,
        {
            "order_id": "o-9",
            "quantity": 2,
            "priority": "HIGH",
            "attributes": {},
            "requested_at": 1_700_000_000_000,
            "request_id": "00000000-0000-0000-0000-000000000009",
        },
    )
    decoded = codec.decode(TOPIC, data, accepted=ACCEPTED)
    assert isinstance(decoded, ReserveStock)
    assert (decoded.order_id, decoded.note, decoded.lines) == ("o-9", None, ())


def test_valid_avro_failing_validation(codec: Codec, registry: SchemaRegistryClient) -> None:
    record = typical_command().to_avro_dict() | {"quantity": -1}
    data = raw_encode(registry, dict(ReserveStock.avro_schema.schema), record)
    with pytest.raises(ValidationFailedError, match="quantity") as caught:
        codec.decode(TOPIC, data, accepted=ACCEPTED)
    assert caught.value.reason == "validation_failed"


def test_a_known_type_this_topic_does_not_carry(codec: Codec) -> None:
    data = codec.encode("stock.replies", StockReserved(order_id="o", reservation_id="r"))
    with pytest.raises(
        UnexpectedMessageTypeError, match=r"carries saga\.test\.codec\.ReserveStock\)"
    ):
        codec.decode(TOPIC, data, accepted=[ReserveStock])


def hostile_cases(valid: bytes) -> list[tuple[bytes | None, type[DecodeError], str]]:
    return [
        (None, EmptyValueError, "empty_value"),
        (b"", EmptyValueError, "empty_value"),
        (b"\x00\x00\x00", TruncatedHeaderError, "truncated_header"),
        (b"\x01" + valid[1:], WrongMagicByteError, "wrong_magic_byte"),
        (b'{"order_id": "json, not avro"}', WrongMagicByteError, "wrong_magic_byte"),
        (b"\x00\x7f\xff\xff\xf0" + valid[5:], UnknownSchemaIdError, "unknown_schema_id"),
        (valid[:-9], TruncatedPayloadError, "truncated"),
        # a string length prefix claiming a terabyte: must fail fast, allocating nothing
        (valid[:5] + zigzag(2**40) + b"abc", TruncatedPayloadError, "truncated"),
        (valid[:5] + b"\xff" * 12, MalformedPayloadError, "malformed"),
        (valid[:5] + b"\x02\xff", MalformedPayloadError, "malformed"),  # invalid UTF-8
        (valid + b"\x00", TrailingBytesError, "trailing_bytes"),
        (valid + valid, TrailingBytesError, "trailing_bytes"),
    ]


def test_hostile_inputs_raise_typed_errors(codec: Codec) -> None:
    valid = codec.encode(TOPIC, typical_command())
    for payload, error, reason in hostile_cases(valid):
        with pytest.raises(error) as caught:
            codec.decode(TOPIC, payload, accepted=ACCEPTED)
        assert caught.value.reason == reason
        assert caught.value.topic == TOPIC


def test_size_limit_is_checked_before_anything_else(registry: SchemaRegistryClient) -> None:
    codec = Codec(registry, CodecSettings(max_message_bytes=64))
    with pytest.raises(MessageTooLargeError, match="value has 65 bytes, over the 64-byte limit"):
        codec.decode(TOPIC, b"\x01" * 65, accepted=ACCEPTED)
    with pytest.raises(EncodeError, match="exceeds the 64-byte limit"):
        codec.encode(TOPIC, typical_command())


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), keep_header=st.booleans())
def test_arbitrary_bytes_never_escape_as_anything_but_a_decode_error(
    body: bytes, keep_header: bool
) -> None:
    codec = Codec(SchemaRegistryClient.new_client({"url": "mock://fuzz"}))
    valid = codec.encode(TOPIC, typical_command())
    payload = valid[:5] + body if keep_header else body
    try:
        decoded = codec.decode(TOPIC, payload, accepted=ACCEPTED)
    except DecodeError:
        return
    assert isinstance(decoded, ReserveStock | StockReserved)


class _FlakyRegistry(SchemaRegistryClient):
    """A registry whose lookups fail as an unreachable or overloaded server's would."""

    def __init__(self, error: Exception) -> None:
        super().__init__({"url": "mock://flaky"})
        self.error = error
        self.calls = 0

    def get_schema(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        SchemaRegistryError(503, 50003, "overloaded"),
        SchemaRegistryError(401, 40101, "unauthorized"),
        ConnectionRefusedError("connection refused"),
    ],
)
def test_registry_failures_are_transient_not_poison(codec: Codec, error: Exception) -> None:
    valid = codec.encode(TOPIC, typical_command())
    flaky = Codec(_FlakyRegistry(error))
    with pytest.raises(RegistryUnavailableError) as caught:
        flaky.decode(TOPIC, valid, accepted=ACCEPTED)
    assert not isinstance(caught.value, DecodeError)


def test_an_unknown_schema_id_is_asked_again_every_time() -> None:
    # Ids are sequential: the id a forged message names may be the next schema someone
    # registers. Remembering it as unknown once dead-lettered healthy messages, so every
    # decision to dead-letter is made on a fresh answer from the registry.
    registry = _FlakyRegistry(SchemaRegistryError(404, 40403, "Schema not found"))
    codec = Codec(registry)
    for _ in range(5):
        with pytest.raises(UnknownSchemaIdError):
            codec.decode(TOPIC, b"\x00\x00\x00\x00\x2a\x02", accepted=ACCEPTED)
    assert registry.calls == 5
