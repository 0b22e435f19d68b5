"""Messages to Confluent-framed Avro bytes and back, through confluent_kafka's own serializers.

Wire format (what Java, Go or .NET services read and write with their Confluent serializers):
byte 0 = 0 (magic), bytes 1-4 = schema id (big-endian), then the Avro binary body written with
that schema. Framing, registration and Avro (fastavro) are the library's; this module picks the
reader class for each message, bounds the input, and turns every failure into either a typed
`DecodeError` (poison: dead-letter it) or `RegistryUnavailableError` (transient: retry).

Hot path: one serializer per message class and one deserializer per reader class, built once;
schema ids resolve through the registry clients' caches and this module's id -> record-name
cache, so a steady stream of known types costs no registry round trip.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Collection
from typing import Any

import pydantic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.common.serde import SchemaId
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from fastavro.read import SchemaResolutionError

from orchestrator.codec._errors import (
    DecodeError,
    EncodeError,
    IncompatibleSchemaError,
    MalformedPayloadError,
    MessageTooLargeError,
    RegistryUnavailableError,
    TruncatedPayloadError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    ValidationFailedError,
    WrongMagicByteError,
)
from orchestrator.codec._names import record_full_name
from orchestrator.codec._settings import CodecSettings
from orchestrator.messages import Message

__all__ = ["Codec"]

_MAGIC_BYTE = 0
_HEADER_BYTES = 5  # magic byte + 4-byte schema id


class Codec:
    """Encodes and decodes `Message`s for Kafka values. Thread-safe; build one per process."""

    def __init__(
        self, registry: SchemaRegistryClient, settings: CodecSettings | None = None
    ) -> None:
        self.registry = registry
        self.settings = settings or CodecSettings()
        self._serializers: dict[type[Message], AvroSerializer] = {}
        self._deserializers: dict[type[Message], AvroDeserializer] = {}
        self._writer_names: dict[int, str] = {}  # schema id -> writer record full name
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

        Raises a DecodeError subclass for poison (dead-letter it), RegistryUnavailableError when
        the registry cannot be reached (retry later). Never anything else for any input bytes.
        """
        if value is None:
            raise UnexpectedMessageTypeError(f"{topic}: null value (tombstone)", topic=topic)
        size = len(value)
        if size > self.settings.max_message_bytes:
            raise MessageTooLargeError(
                f"{topic}: {size} bytes exceeds the {self.settings.max_message_bytes}-byte limit",
                topic=topic,
            )
        if size and value[0] != _MAGIC_BYTE:
            raise WrongMagicByteError(
                f"{topic}: first byte is {value[0]:#04x}, not the Confluent wire format's 0x00",
                topic=topic,
            )
        if size <= _HEADER_BYTES:
            raise TruncatedPayloadError(
                f"{topic}: {size} bytes is shorter than the wire format's header and body",
                topic=topic,
            )
        schema_id = _schema_id(value)
        cls = self._reader_class(topic, schema_id, accepted)
        try:
            decoded = self._deserializer(cls)(
                value, SerializationContext(topic, MessageField.VALUE)
            )
        except (DecodeError, RegistryUnavailableError):
            raise
        except pydantic.ValidationError as exc:  # before ValueError: it is one
            raise ValidationFailedError(
                f"{topic}: {cls.avro_name} failed validation: {_summary(exc)}",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        except EOFError as exc:  # the body ends early, or a length prefix was forged
            raise TruncatedPayloadError(
                f"{topic}: Avro body ends early for {cls.avro_name}: {exc}",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        except SchemaRegistryError as exc:
            raise self._registry_failure(topic, schema_id, exc) from exc
        except (
            SchemaResolutionError,
            SerializationError,
            ValueError,  # includes UnicodeDecodeError
            IndexError,  # union branch or enum symbol out of range, over-long varints
            KeyError,
            TypeError,
            OverflowError,
            RecursionError,  # forged nesting of a recursive schema
        ) as exc:
            raise MalformedPayloadError(
                f"{topic}: not a valid {cls.avro_name} body: {type(exc).__name__}: {exc}",
                topic=topic,
                schema_id=schema_id,
            ) from exc
        if not isinstance(decoded, cls):  # from_dict always returns cls; guards a library change
            raise MalformedPayloadError(f"{topic}: decoded {type(decoded)!r}", topic=topic)
        return decoded

    def _reader_class(
        self, topic: str, schema_id: int, accepted: Collection[type[Message]]
    ) -> type[Message]:
        writer_name = self._writer_name(topic, schema_id)
        for cls in accepted:
            if cls.avro_name == writer_name:
                return cls
        names = ", ".join(sorted(cls.avro_name for cls in accepted)) or "nothing"
        raise UnexpectedMessageTypeError(
            f"{topic}: carries {names}, not {writer_name} (schema id {schema_id})",
            topic=topic,
            schema_id=schema_id,
        )

    def _writer_name(self, topic: str, schema_id: int) -> str:
        name = self._writer_names.get(schema_id)
        if name is not None:
            return name
        # No negative cache: an id unknown a moment ago may be the next schema someone registers
        # (ids are sequential), and remembering it as unknown dead-lettered healthy messages.
        # A flood of forged ids costs one registry lookup per message, bounded by consumption.
        try:
            schema = self.registry.get_schema(schema_id)
        except RegistryUnavailableError:
            raise
        except SchemaRegistryError as exc:
            raise self._registry_failure(topic, schema_id, exc) from exc
        except Exception as exc:  # the HTTP client's transport errors, whatever their class
            raise RegistryUnavailableError(f"schema registry: {exc!r}") from exc
        name = record_full_name(schema.schema_str, schema.schema_type)
        if name is None:
            raise UnexpectedMessageTypeError(
                f"{topic}: schema id {schema_id} is not an Avro record schema",
                topic=topic,
                schema_id=schema_id,
            )
        self._writer_names[schema_id] = name
        return name

    def _registry_failure(
        self, topic: str, schema_id: int, exc: SchemaRegistryError
    ) -> DecodeError | RegistryUnavailableError:
        if exc.http_status_code == 404:
            return UnknownSchemaIdError(
                f"{topic}: schema id {schema_id} is unknown to the registry",
                topic=topic,
                schema_id=schema_id,
            )
        # Anything else (5xx, auth, throttling) says nothing about the message: retry.
        return RegistryUnavailableError(f"schema registry: {exc}")

    def _deserializer(self, cls: type[Message]) -> AvroDeserializer:
        deserializer = self._deserializers.get(cls)
        if deserializer is None:
            with self._build_lock:
                deserializer = self._deserializers.get(cls)
                if deserializer is None:
                    # The class's own schema is the reader schema: fastavro resolves whatever
                    # version the writer used (defaults for added fields, and so on) into it.
                    deserializer = AvroDeserializer(
                        self.registry,
                        cls.avro_schema.schema_str,
                        from_dict=_from_avro_dict(cls),
                        conf={"subject.name.strategy.type": self.settings.subject_name_strategy},
                    )
                    self._deserializers[cls] = deserializer
        return deserializer


def _to_avro_dict(message: Message, ctx: SerializationContext) -> dict[str, Any]:
    return message.to_avro_dict()


class _from_avro_dict:  # noqa: N801  # used like a function: from_dict=_from_avro_dict(cls)
    __slots__ = ("cls",)

    def __init__(self, cls: type[Message]) -> None:
        self.cls = cls

    def __call__(self, data: dict[str, Any], ctx: SerializationContext) -> Message:
        return self.cls.from_avro_dict(data)


def _schema_id(value: bytes) -> int:
    # The library's own parser of the 5-byte header; the magic byte is already checked.
    schema_id = SchemaId("AVRO")
    schema_id.from_bytes(io.BytesIO(value[:_HEADER_BYTES]))
    assert schema_id.id is not None
    return int(schema_id.id)


def _summary(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
    )
