"""Every way a value can fail to be exactly one Confluent-framed Avro body of an accepted type,
with the reason token the dead-letter headers carry and the message an operator reads."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_writer

from orchestrator.codec import (
    Codec,
    CodecSettings,
    DecodeError,
    EmptyValueError,
    MalformedPayloadError,
    MessageTooLargeError,
    TrailingBytesError,
    TruncatedHeaderError,
    TruncatedPayloadError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    UnreadableWriterSchemaError,
    ValidationFailedError,
    WrongMagicByteError,
)
from tests.unit.codec.codec_samples import ReserveStock, StockReserved, typical_command

TOPIC = "orders.commands"
STOCK = "saga.test.codec.ReserveStock"


@dataclass(frozen=True)
class Env:
    registry: SchemaRegistryClient
    codec: Codec
    valid: bytes  # one ReserveStock, framed

    @property
    def schema_id(self) -> int:
        return int(struct.unpack(">I", self.valid[1:5])[0])

    def frame(self, schema_id: int, body: bytes) -> bytes:
        return b"\x00" + struct.pack(">I", schema_id) + body

    def register(self, subject: str, schema: dict[str, object]) -> int:
        return self.registry.register_schema(subject, Schema(json.dumps(schema), "AVRO"))


@pytest.fixture
def env() -> Env:
    registry = SchemaRegistryClient.new_client({"url": "mock://codec-reasons"})
    codec = Codec(registry, CodecSettings(max_message_bytes=4096))
    return Env(registry, codec, codec.encode(TOPIC, typical_command()))


def _stock_without_quantity(env: Env) -> bytes:
    # Same record name, but a field the reader needs (no default) is missing: resolution fails.
    schema = json.loads(ReserveStock.avro_schema.schema_str)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "quantity"]
    schema_id = env.register("rogue-" + STOCK, schema)
    body = io.BytesIO()
    record = typical_command().to_avro_dict()
    del record["quantity"]
    schemaless_writer(body, parse_schema(schema), record)
    return env.frame(schema_id, body.getvalue())


def _invalid_quantity(env: Env) -> bytes:
    serializer = AvroSerializer(
        env.registry,
        ReserveStock.avro_schema.schema_str,
        conf={"subject.name.strategy.type": "TOPIC_RECORD"},
    )
    record = typical_command().to_avro_dict() | {"quantity": 0}
    data = serializer(record, SerializationContext(TOPIC, MessageField.VALUE))
    assert isinstance(data, bytes)
    return data


Case = tuple[Callable[[Env], bytes | None], type[DecodeError], str, Callable[[Env], str]]

CASES: dict[str, Case] = {
    "null value": (
        lambda env: None,
        EmptyValueError,
        "empty_value",
        lambda env: "value is null (a tombstone): there is no message",
    ),
    "empty value": (
        lambda env: b"",
        EmptyValueError,
        "empty_value",
        lambda env: "value is empty (0 bytes): there is no message",
    ),
    "too large": (
        lambda env: env.valid + b"\x00" * 4096,
        MessageTooLargeError,
        "too_large",
        lambda env: f"value has {len(env.valid) + 4096} bytes, over the 4096-byte limit",
    ),
    "shorter than the header": (
        lambda env: b"\x00\x00\x01",
        TruncatedHeaderError,
        "truncated_header",
        lambda env: (
            "value has 3 bytes, fewer than the Confluent wire format's 5-byte header "
            "(magic byte and 4-byte schema id)"
        ),
    ),
    "wrong magic byte": (
        lambda env: b'{"order_id": "json"}',
        WrongMagicByteError,
        "wrong_magic_byte",
        lambda env: (
            "value starts with byte 0x7b, not the Confluent wire format's magic byte 0x00: "
            "it was not written by a Confluent Avro serializer"
        ),
    ),
    "unknown schema id": (
        lambda env: env.frame(987_654, env.valid[5:]),
        UnknownSchemaIdError,
        "unknown_schema_id",
        lambda env: "schema id 987654 in the value's header is unknown to the registry",
    ),
    "type not accepted on this topic": (
        lambda env: env.codec.encode("elsewhere", StockReserved(order_id="o", reservation_id="r")),
        UnexpectedMessageTypeError,
        "unexpected_type",
        lambda env: (
            f"schema id {env.schema_id + 1} is saga.test.codec.StockReserved, which {TOPIC} "
            f"does not accept (it carries {STOCK})"
        ),
    ),
    "header without a body": (
        lambda env: env.valid[:5],
        TruncatedPayloadError,
        "truncated",
        lambda env: (
            f"value ends right after its 5-byte header, before the Avro body of {STOCK} "
            f"(schema id {env.schema_id})"
        ),
    ),
    "body truncated mid-record": (
        lambda env: env.valid[:-9],
        TruncatedPayloadError,
        "truncated",
        lambda env: (
            f"value ends after {len(env.valid) - 9} bytes, in the middle of the Avro body of "
            f"{STOCK} (schema id {env.schema_id}): Expected 17 bytes, read 9"
        ),
    ),
    "malformed body": (
        lambda env: env.valid[:5] + b"\x02\xff",  # a one-byte string that is not UTF-8
        MalformedPayloadError,
        "malformed",
        lambda env: (
            f"the Avro body of {STOCK} (schema id {env.schema_id}) is malformed (reading "
            "stopped at byte 7 of 7): UnicodeDecodeError: 'utf-8' codec can't decode byte "
            "0xff in position 0: invalid start byte"
        ),
    ),
    "trailing bytes": (
        lambda env: env.valid + b"\x00" * 7,
        TrailingBytesError,
        "trailing_bytes",
        lambda env: f"value has 7 bytes after the Avro body of {STOCK} (schema id {env.schema_id})",
    ),
    "two bodies back to back": (
        lambda env: env.valid + env.valid[5:],
        TrailingBytesError,
        "trailing_bytes",
        lambda env: (
            f"value has {len(env.valid) - 5} bytes after the Avro body of {STOCK} "
            f"(schema id {env.schema_id})"
        ),
    ),
    "writer schema that does not resolve": (
        _stock_without_quantity,
        UnreadableWriterSchemaError,
        "unreadable_schema",
        lambda env: (
            f"schema id {env.schema_id + 1} does not resolve to this service's {STOCK}: "
            f"No default value for field quantity in {STOCK}"
        ),
    ),
    "validation failed": (
        _invalid_quantity,
        ValidationFailedError,
        "validation_failed",
        lambda env: (
            f"{STOCK} (schema id {env.schema_id}) failed validation: "
            "quantity: Input should be greater than 0"
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_reason_is_typed_and_says_exactly_what_is_wrong(env: Env, case: str) -> None:
    make, error, reason, message = CASES[case]
    value = make(env)
    with pytest.raises(error) as caught:
        env.codec.decode(TOPIC, value, accepted=(ReserveStock,))
    assert type(caught.value) is error
    assert caught.value.reason == reason
    assert str(caught.value) == message(env)
    assert caught.value.topic == TOPIC


def test_reason_tokens_are_distinct_per_class() -> None:
    classes = {error for _, error, _, _ in CASES.values()}
    tokens = [error.reason for error in classes]
    assert len(tokens) == len(set(tokens)), tokens


def test_trailing_bytes_error_counts_the_extra_bytes(env: Env) -> None:
    with pytest.raises(TrailingBytesError) as caught:
        env.codec.decode(TOPIC, env.valid + b"\x01\x02\x03", accepted=(ReserveStock,))
    assert (caught.value.trailing, caught.value.schema_id) == (3, env.schema_id)


def test_a_good_value_after_a_bad_one_still_decodes(env: Env) -> None:
    # The cached reader of a schema id carries nothing over from the value that failed.
    with pytest.raises(TrailingBytesError):
        env.codec.decode(TOPIC, env.valid + b"\x00", accepted=(ReserveStock,))
    assert env.codec.decode(TOPIC, env.valid, accepted=(ReserveStock,)) == typical_command()


def test_a_writer_schema_with_references_is_resolved(env: Env) -> None:
    # Services in other languages may register their schemas with references to named types
    # kept under subjects of their own: the writer schema is then not self-contained.
    schema = json.loads(ReserveStock.avro_schema.schema_str)
    [lines] = [f for f in schema["fields"] if f["name"] == "lines"]
    line = lines["type"]["items"] | {"namespace": "saga.test.codec"}
    lines["type"]["items"] = "saga.test.codec.Line"
    env.register("refs-line", line)
    reference = SchemaReference("saga.test.codec.Line", "refs-line", 1)
    schema_id = env.registry.register_schema(
        "refs-" + STOCK, Schema(json.dumps(schema), "AVRO", [reference])
    )
    value = env.frame(schema_id, env.valid[5:])
    assert env.codec.decode(TOPIC, value, accepted=(ReserveStock,)) == typical_command()


def test_a_reference_the_registry_lacks_is_unreadable(env: Env) -> None:
    schema = json.loads(ReserveStock.avro_schema.schema_str)
    reference = SchemaReference("saga.test.codec.Gone", "no-such-subject", 1)
    schema_id = env.registry.register_schema(
        "refs-" + STOCK, Schema(json.dumps(schema), "AVRO", [reference])
    )
    with pytest.raises(UnreadableWriterSchemaError) as caught:
        env.codec.decode(TOPIC, env.frame(schema_id, env.valid[5:]), accepted=(ReserveStock,))
    assert str(caught.value) == (
        f"schema id {schema_id} references saga.test.codec.Gone (subject no-such-subject "
        "version 1), which the registry does not have"
    )


@pytest.mark.parametrize(
    ("schema_str", "schema_type"),
    [('"string"', "AVRO"), ('syntax = "proto3"; message M {}', "PROTOBUF")],
)
def test_a_schema_id_that_is_no_avro_record_is_an_unexpected_type(
    env: Env, schema_str: str, schema_type: str
) -> None:
    schema_id = env.registry.register_schema("other-value", Schema(schema_str, schema_type))
    with pytest.raises(UnexpectedMessageTypeError) as caught:
        env.codec.decode(TOPIC, env.frame(schema_id, b"\x02a"), accepted=(ReserveStock,))
    assert str(caught.value) == (
        f"schema id {schema_id} is not an Avro record schema (schema type {schema_type}): "
        "no topic here carries it"
    )


class _RegistryWithIncompleteReference(SchemaRegistryClient):
    """A registry answering with a reference that names no subject (a broken registry)."""

    def __init__(self) -> None:
        super().__init__({"url": "mock://incomplete-reference"})

    def get_schema(self, *args: Any, **kwargs: Any) -> Schema:
        return Schema(
            ReserveStock.avro_schema.schema_str,
            "AVRO",
            [SchemaReference("saga.test.codec.Line", None, None)],
        )


def test_an_incomplete_reference_is_unreadable_not_retried(env: Env) -> None:
    codec = Codec(_RegistryWithIncompleteReference())
    with pytest.raises(UnreadableWriterSchemaError, match="has an incomplete reference"):
        codec.decode(TOPIC, env.valid, accepted=(ReserveStock,))


def test_a_writer_schema_that_does_not_parse_is_unreadable(env: Env) -> None:
    schema = json.loads(ReserveStock.avro_schema.schema_str)
    schema["fields"][0]["type"] = "no.such.Type"
    schema_id = env.register("broken-" + STOCK, schema)
    with pytest.raises(UnreadableWriterSchemaError) as caught:
        env.codec.decode(TOPIC, env.frame(schema_id, env.valid[5:]), accepted=(ReserveStock,))
    assert str(caught.value).startswith(
        f"schema id {schema_id} ({STOCK}) does not parse as Avro: "
    ), caught.value


def test_a_reference_whose_schema_is_not_json_is_unreadable(env: Env) -> None:
    env.registry.register_schema("not-json", Schema("{not json", "AVRO"))
    reference = SchemaReference("saga.test.codec.Line", "not-json", 1)
    schema_id = env.registry.register_schema(
        "refs-" + STOCK, Schema(ReserveStock.avro_schema.schema_str, "AVRO", [reference])
    )
    with pytest.raises(UnreadableWriterSchemaError, match="whose schema is not JSON"):
        env.codec.decode(TOPIC, env.frame(schema_id, env.valid[5:]), accepted=(ReserveStock,))
