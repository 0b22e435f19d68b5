"""Reading exactly one Avro body out of a Confluent-framed value, and nothing else.

confluent_kafka's `AvroDeserializer` reads one record and ignores whatever follows it, so a
value with bytes after its body (two records concatenated, a length bug in the sender) was
decoded and acted on. `BodyReader` reads the body with fastavro's `schemaless_reader` from a
`BytesIO` and compares where the reader stopped with the value's length: the check costs one
`tell()`, and the read is the same one the library makes (same writer and reader schemas, same
schema resolution), without the library's per-message subject, rule and schema-cache work.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pydantic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.common.avro import parse_schema_with_repo
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import schemaless_reader
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException

from orchestrator.codec._errors import (
    MalformedPayloadError,
    TrailingBytesError,
    TruncatedPayloadError,
    UnreadableWriterSchemaError,
    ValidationFailedError,
)
from orchestrator.messages import Message

__all__ = ["HEADER_BYTES", "BodyReader", "referenced_schemas"]

HEADER_BYTES = 5  # magic byte + 4-byte big-endian schema id

# What fastavro raises on bytes that are not a body of the writer schema. EOFError is apart:
# the body ended early (or a length prefix was forged), which is `truncated`.
_MALFORMED = (
    ValueError,  # includes UnicodeDecodeError
    IndexError,  # union branch or enum symbol out of range, over-long varints
    KeyError,
    TypeError,
    OverflowError,
    RecursionError,  # forged nesting of a recursive schema
)


class BodyReader:
    """Reads values written with one writer schema (one schema id) as one message class."""

    __slots__ = ("_reader", "_writer", "cls", "schema_id", "what")

    def __init__(
        self,
        cls: type[Message],
        schema_id: int,
        writer_schema_str: str,
        named_schemas: Mapping[str, Any],
        *,
        topic: str,
    ) -> None:
        self.cls = cls
        self.schema_id = schema_id
        self.what = f"{cls.avro_name} (schema id {schema_id})"
        try:
            self._writer = parse_schema_with_repo(writer_schema_str, dict(named_schemas))
        except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
            raise UnreadableWriterSchemaError(
                f"schema id {schema_id} ({cls.avro_name}) does not parse as Avro: {exc}",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        reader = parse_schema_with_repo(cls.avro_schema.schema_str, {})
        # Same schema on both sides (the common case): no resolution, and no per-message
        # comparison of the two parsed schemas inside schemaless_reader.
        self._reader = None if reader == self._writer else reader

    def read(self, topic: str, value: bytes) -> Message:
        """The message in `value` (header included, already checked). Raises DecodeErrors."""
        body = io.BytesIO(value)
        body.seek(HEADER_BYTES)
        try:
            record = schemaless_reader(body, self._writer, self._reader)
        except EOFError as exc:
            where = (
                f"right after its {HEADER_BYTES}-byte header, before the Avro body of {self.what}"
                if len(value) == HEADER_BYTES
                else f"after {len(value)} bytes, in the middle of the Avro body of {self.what}"
            )
            raise TruncatedPayloadError(
                f"value ends {where}{_detail(exc)}", topic=topic, schema_id=self.schema_id
            ) from exc
        except SchemaResolutionError as exc:
            raise UnreadableWriterSchemaError(
                f"schema id {self.schema_id} does not resolve to this service's "
                f"{self.cls.avro_name}: {exc}",
                topic=topic,
                schema_id=self.schema_id,
            ) from exc
        except _MALFORMED as exc:
            raise MalformedPayloadError(
                f"the Avro body of {self.what} is malformed (reading stopped at byte "
                f"{body.tell()} of {len(value)}): {type(exc).__name__}{_detail(exc)}",
                topic=topic,
                schema_id=self.schema_id,
            ) from exc
        trailing = len(value) - body.tell()
        if trailing:
            raise TrailingBytesError(
                f"value has {trailing} bytes after the Avro body of {self.what}",
                topic=topic,
                schema_id=self.schema_id,
                trailing=trailing,
            )
        return self._validated(topic, record)

    def _validated(self, topic: str, record: Any) -> Message:
        try:
            return self.cls.from_avro_dict(record)
        except pydantic.ValidationError as exc:  # before ValueError: it is one
            raise ValidationFailedError(
                f"{self.what} failed validation: {_summary(exc)}",
                topic=topic,
                schema_id=self.schema_id,
            ) from exc
        except _MALFORMED as exc:  # a validator that raised something else than pydantic's
            raise MalformedPayloadError(
                f"{self.what} could not be built from its body: {type(exc).__name__}{_detail(exc)}",
                topic=topic,
                schema_id=self.schema_id,
            ) from exc


def referenced_schemas(
    registry: SchemaRegistryClient, schema: Schema, *, topic: str, schema_id: int
) -> dict[str, Any]:
    """The named types `schema` references, by name, fetched recursively (as the library's
    deserializer resolves them). A reference the registry does not have is poison; a registry
    that cannot be reached raises what the client raised (the caller classifies it)."""
    named: dict[str, Any] = {}
    for ref in schema.references or ():
        if ref.subject is None or ref.version is None or ref.name is None:
            raise UnreadableWriterSchemaError(
                f"schema id {schema_id} has an incomplete reference {ref!r}",
                topic=topic,
                schema_id=schema_id,
            )
        try:
            referenced = registry.get_version(ref.subject, ref.version, True)
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise
            raise UnreadableWriterSchemaError(
                f"schema id {schema_id} references {ref.name} (subject {ref.subject} version "
                f"{ref.version}), which the registry does not have",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        named.update(
            referenced_schemas(registry, referenced.schema, topic=topic, schema_id=schema_id)
        )
        try:
            raw = json.loads(referenced.schema.schema_str or "")
        except ValueError as exc:
            raise UnreadableWriterSchemaError(
                f"schema id {schema_id} references {ref.name}, whose schema is not JSON: {exc}",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        named[ref.name] = raw
        if isinstance(raw, dict) and "name" in raw:
            # fastavro also looks namespace-qualified references up by their full name.
            namespace, name = raw.get("namespace"), raw["name"]
            named.setdefault(f"{namespace}.{name}" if namespace and "." not in name else name, raw)
    return named


def _detail(exc: BaseException) -> str:
    text = str(exc)
    return f": {text}" if text else ""


def _summary(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
