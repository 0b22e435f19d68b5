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
    "EncodeError",
    "IncompatibleSchemaError",
    "MalformedPayloadError",
    "MessageTooLargeError",
    "RegistryUnavailableError",
    "TruncatedPayloadError",
    "UnexpectedMessageTypeError",
    "UnknownSchemaIdError",
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


class MessageTooLargeError(DecodeError):
    reason = "too_large"


class TruncatedPayloadError(DecodeError):
    """Shorter than the wire format's header, or the Avro body ends early."""

    reason = "truncated"


class WrongMagicByteError(DecodeError):
    """Not Confluent wire format (first byte is not 0): produced by some other serializer."""

    reason = "wrong_magic_byte"


class UnknownSchemaIdError(DecodeError):
    """The registry has never issued this schema id."""

    reason = "unknown_schema_id"


class MalformedPayloadError(DecodeError):
    """The Avro body does not decode with its writer schema (garbage, forged lengths, ...)."""

    reason = "malformed"


class UnexpectedMessageTypeError(DecodeError):
    """A well-formed message whose type this topic does not carry (or a null value)."""

    reason = "unexpected_type"


class ValidationFailedError(DecodeError):
    """Valid Avro whose content the message class rejects (pydantic validation)."""

    reason = "validation_failed"


class RegistryUnavailableError(Exception):
    """Transient: the schema registry could not be reached. Retry; never dead-letter for this."""


class EncodeError(Exception):
    """A message could not be encoded: a bug in the sender, never a transient condition."""


class IncompatibleSchemaError(EncodeError):
    """The registry refused a schema under the subject's compatibility level."""
