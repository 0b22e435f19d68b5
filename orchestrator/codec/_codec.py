"""Messages to Confluent-framed Avro bytes and back.

Wire format (what Java, Go or .NET services read and write with their Confluent serializers):
byte 0 = 0 (magic), bytes 1-4 = schema id (big-endian), then the Avro binary body written with
that schema. Encoding is confluent_kafka's `AvroSerializer` (registration, framing, fastavro).
Decoding checks the frame here, resolves the schema id through the registry client, and reads
the body with `BodyReader`, which insists on exactly one body: the library's deserializer reads
one record and ignores whatever follows it. Every failure is either a typed `DecodeError`
(poison: dead-letter it) or `RegistryUnavailableError` (transient: retry).

Hot path: one serializer per message class, one body reader per (schema id, reader class),
built once; schema ids resolve through this module's cache of writer schemas, so a steady
stream of known types costs no registry round trip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from orchestrator.codec._body import HEADER_BYTES, BodyReader, referenced_schemas
from orchestrator.codec._errors import (
    DecodeError,
    EmptyValueError,
    EncodeError,
    IncompatibleSchemaError,
    MessageTooLargeError,
    RegistryUnavailableError,
    TruncatedHeaderError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    WrongMagicByteError,
)
from orchestrator.codec._names import record_full_name
from orchestrator.codec._settings import CodecSettings
from orchestrator.messages import Message

__all__ = ["Codec"]

_MAGIC_BYTE = 0


class Codec:
    """Encodes and decodes `Message`s for Kafka values. Thread-safe; build one per process."""

    def __init__(
        self, registry: SchemaRegistryClient, settings: CodecSettings | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings or CodecSettings()
        self._serializers: dict[type[Message], AvroSerializer] = {}
        self._writer_schemas: dict[int, _WriterSchema] = {}
        self._body_readers: dict[tuple[int, type[Message]], BodyReader] = {}
        self._build_lock = threading.Lock()

    # --- encode -----------------------------------------------------------------------------

    def encode(self, topic: str, message: Message) -> bytes:
        """Confluent-framed Avro for `message` as a value on `topic` (registering if allowed).

        Raises RegistryUnavailableError (retry), IncompatibleSchemaError, or EncodeError.
        """
        serializer = self._serializer(type(message))
        ctx = SerializationContext(topic, MessageField.VALUE)
        try:
            data = serializer(message, ctx)
        except RegistryUnavailableError:
            raise
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise IncompatibleSchemaError(
                    f"{message.avro_name} on {topic}: {exc.error_message}"
                ) from exc
            if exc.http_status_code in (404, 422):  # not registered (auto-register off), invalid
                raise EncodeError(f"{message.avro_name} on {topic}: {exc}") from exc
            raise RegistryUnavailableError(f"schema registry: {exc}") from exc
        except (ValueError, TypeError, SerializationError, OverflowError) as exc:
            raise EncodeError(f"{message.avro_name} on {topic}: {exc}") from exc
        except Exception as exc:  # the HTTP client's transport errors, whatever their class
            raise RegistryUnavailableError(f"schema registry: {exc!r}") from exc
        if data is None or len(data) > self.settings.max_message_bytes:
            size = 0 if data is None else len(data)
            raise EncodeError(
                f"{message.avro_name} on {topic}: {size} bytes exceeds the "
                f"{self.settings.max_message_bytes}-byte limit"
            )
        return data

    def _serializer(self, cls: type[Message]) -> AvroSerializer:
        serializer = self._serializers.get(cls)
        if serializer is None:
            with self._build_lock:
                serializer = self._serializers.get(cls)
                if serializer is None:
                    serializer = AvroSerializer(
                        self.registry,
                        cls.avro_schema.schema_str,
                        to_dict=_to_avro_dict,
                        conf={
                            "auto.register.schemas": self.settings.auto_register,
                            "subject.name.strategy.type": self.settings.subject_name_strategy,
                        },
                    )
                    self._serializers[cls] = serializer
        return serializer

    # --- decode -----------------------------------------------------------------------------

    def decode(
        self, topic: str, value: bytes | None, *, accepted: Collection[type[Message]]
    ) -> Message:
        """The message in `value`, read as the class in `accepted` its writer schema names.

        `value` must be exactly one Confluent-framed Avro body of an accepted type: anything
        else (no bytes, a short or foreign header, an unknown schema id, a body that ends early,
        does not parse or is followed by more bytes, content the class rejects) raises the
        DecodeError subclass naming it (poison: dead-letter it). RegistryUnavailableError when
        the registry cannot be reached (retry later). Never anything else for any input bytes.
        """
        if value is None:
            raise EmptyValueError("value is null (a tombstone): there is no message", topic=topic)
        size = len(value)
        if size > self.settings.max_message_bytes:
            raise MessageTooLargeError(
                f"value has {size} bytes, over the {self.settings.max_message_bytes}-byte limit",
                topic=topic,
            )
        if not size:
            raise EmptyValueError("value is empty (0 bytes): there is no message", topic=topic)
        if value[0] != _MAGIC_BYTE:
            raise WrongMagicByteError(
                f"value starts with byte {value[0]:#04x}, not the Confluent wire format's magic "
                "byte 0x00: it was not written by a Confluent Avro serializer",
                topic=topic,
            )
        if size < HEADER_BYTES:
            raise TruncatedHeaderError(
                f"value has {size} bytes, fewer than the Confluent wire format's "
                f"{HEADER_BYTES}-byte header (magic byte and 4-byte schema id)",
                topic=topic,
            )
        schema_id = int.from_bytes(value[1:HEADER_BYTES], "big")
        return self._body_reader(topic, schema_id, accepted).read(topic, value)

    def _body_reader(
        self, topic: str, schema_id: int, accepted: Collection[type[Message]]
    ) -> BodyReader:
        writer = self._writer_schema(topic, schema_id)
        for cls in accepted:
            if cls.avro_name == writer.name:
                break
        else:
            names = ", ".join(sorted(cls.avro_name for cls in accepted)) or "nothing"
            raise UnexpectedMessageTypeError(
                f"schema id {schema_id} is {writer.name}, which {topic} does not accept "
                f"(it carries {names})",
                topic=topic,
                schema_id=schema_id,
            )
        key = (schema_id, cls)
        reader = self._body_readers.get(key)
        if reader is None:
            # Built twice at worst when two threads race: both results are equal.
            reader = BodyReader(cls, schema_id, writer.schema_str, writer.named, topic=topic)
            self._body_readers[key] = reader
        return reader

    def _writer_schema(self, topic: str, schema_id: int) -> _WriterSchema:
        cached = self._writer_schemas.get(schema_id)
        if cached is not None:
            return cached
        # No negative cache: an id unknown a moment ago may be the next schema someone registers
        # (ids are sequential), and remembering it as unknown dead-lettered healthy messages.
        # A flood of forged ids costs one registry lookup per message, bounded by consumption.
        with self._asking_registry(topic, schema_id):
            schema = self.registry.get_schema(schema_id)
        name = record_full_name(schema.schema_str, schema.schema_type)
        if name is None or schema.schema_str is None:
            raise UnexpectedMessageTypeError(
                f"schema id {schema_id} is not an Avro record schema (schema type "
                f"{schema.schema_type or 'AVRO'}): no topic here carries it",
                topic=topic,
                schema_id=schema_id,
            )
        with self._asking_registry(topic, schema_id):
            named = referenced_schemas(self.registry, schema, topic=topic, schema_id=schema_id)
        writer = _WriterSchema(name, schema.schema_str, named)
        self._writer_schemas[schema_id] = writer
        return writer

    @contextlib.contextmanager
    def _asking_registry(self, topic: str, schema_id: int) -> Iterator[None]:
        """Registry answers about `schema_id` as poison (404) or as transient (the rest)."""
        try:
            yield
        except (DecodeError, RegistryUnavailableError):
            raise
        except SchemaRegistryError as exc:
            raise self._registry_failure(topic, schema_id, exc) from exc
        except Exception as exc:  # the HTTP client's transport errors, whatever their class
            raise RegistryUnavailableError(f"schema registry: {exc!r}") from exc

    def _registry_failure(
        self, topic: str, schema_id: int, exc: SchemaRegistryError
    ) -> DecodeError | RegistryUnavailableError:
        if exc.http_status_code == 404:
            return UnknownSchemaIdError(
                f"schema id {schema_id} in the value's header is unknown to the registry",
                topic=topic,
                schema_id=schema_id,
            )
        # Anything else (5xx, auth, throttling) says nothing about the message: retry.
        return RegistryUnavailableError(f"schema registry: {exc}")


@dataclass(frozen=True, slots=True)
class _WriterSchema:
    """A registered schema as the decoder needs it: immutable once issued, so cached by id."""

    name: str  # the record's full name: which message class reads it
    schema_str: str
    named: dict[str, Any]  # the types it references, by name


def _to_avro_dict(message: Message, ctx: SerializationContext) -> dict[str, Any]:
    return message.to_avro_dict()
