"""What can go wrong turning bytes into messages and back.

Two families, because the worker treats them oppositely:
- `DecodeError` and its subclasses: the message itself is bad (poison). Retrying cannot help;
  the worker sends the original bytes to the dead-letter topic with `reason` in its headers.
- `RegistryUnavailableError`: the registry (HTTP service or database) could not be reached.
  The message may be fine; the worker retries with backoff and must not dead-letter it.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "DecodeError",
    "EmptyValueError",
    "EncodeError",
    "IncompatibleSchemaError",
    "MalformedPayloadError",
    "MessageTooLargeError",
    "RegistryUnavailableError",
    "TrailingBytesError",
    "TruncatedHeaderError",
    "TruncatedPayloadError",
    "UnexpectedMessageTypeError",
    "UnknownSchemaIdError",
    "UnreadableWriterSchemaError",
    "ValidationFailedError",
    "WrongMagicByteError",
]


class DecodeError(Exception):
    """A message that can never be decoded or validated: dead-letter it.

    `reason` is a short, stable, machine-readable token for the dead-letter headers; dashboards
    and redrive tooling match on it, so never rename one.
    """

    reason: ClassVar[str] = "decode_failed"

    def __init__(self, message: str, *, topic: str, schema_id: int | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.schema_id = schema_id


class EmptyValueError(DecodeError):
    """No bytes at all: a null value (tombstone) or a zero-length one."""

    reason = "empty_value"


class MessageTooLargeError(DecodeError):
    reason = "too_large"


class TruncatedPayloadError(DecodeError):
    """The Avro body ends before the record does (or a length prefix claims more than is left)."""

    reason = "truncated"


class TruncatedHeaderError(TruncatedPayloadError):
    """Fewer bytes than the 5-byte wire-format header (magic byte and schema id)."""

    reason = "truncated_header"


class WrongMagicByteError(DecodeError):
    """Not Confluent wire format (first byte is not 0): produced by some other serializer."""

    reason = "wrong_magic_byte"


class UnknownSchemaIdError(DecodeError):
    """The registry has never issued this schema id."""

    reason = "unknown_schema_id"


class MalformedPayloadError(DecodeError):
    """The Avro body does not decode with its writer schema (garbage, forged lengths, ...)."""

    reason = "malformed"


class TrailingBytesError(MalformedPayloadError):
    """One complete Avro body followed by bytes that belong to no record.

    A value is exactly one body: extra bytes mean a framing bug in the sender (two records
    concatenated, a wrong length, a payload appended), so what was read is not trusted either.
    """

    reason = "trailing_bytes"

    def __init__(
        self, message: str, *, topic: str, schema_id: int | None = None, trailing: int
    ) -> None:
        super().__init__(message, topic=topic, schema_id=schema_id)
        self.trailing = trailing


class UnexpectedMessageTypeError(DecodeError):
    """A well-formed message whose type this topic does not carry."""

    reason = "unexpected_type"


class UnreadableWriterSchemaError(DecodeError):
    """The writer schema of an accepted type cannot be read as this service's class: it does
    not parse, names a reference the registry lacks, or does not resolve to the reader schema."""

    reason = "unreadable_schema"


class ValidationFailedError(DecodeError):
    """Valid Avro whose content the message class rejects (pydantic validation)."""

    reason = "validation_failed"


class RegistryUnavailableError(Exception):
    """Transient: the schema registry could not be reached. Retry; never dead-letter for this."""


class EncodeError(Exception):
    """A message could not be encoded: a bug in the sender, never a transient condition."""


class IncompatibleSchemaError(EncodeError):
    """The registry refused a schema under the subject's compatibility level."""
