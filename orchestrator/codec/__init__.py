"""Avro on Kafka: Confluent wire format, schema registries, evolution checks.

`Codec` turns `Message`s into Kafka value bytes and back with confluent_kafka's Avro serializers;
`connect_registry` picks the external Confluent-compatible registry (SAGA_SCHEMA_REGISTRY_URL)
or the built-in one kept in the event store's PostgreSQL database.
"""

from orchestrator.codec._catalog import (
    Registration,
    SubjectPlan,
    SubjectSummary,
    list_subjects,
    plan_schemas,
    register_schemas,
)
from orchestrator.codec._codec import Codec
from orchestrator.codec._compat import (
    DEFAULT_COMPATIBILITY,
    CompatibilityLevel,
    Incompatibility,
    check_compatibility,
)
from orchestrator.codec._errors import (
    DecodeError,
    EmptyValueError,
    EncodeError,
    IncompatibleSchemaError,
    MalformedPayloadError,
    MessageTooLargeError,
    RegistryUnavailableError,
    TrailingBytesError,
    TruncatedHeaderError,
    TruncatedPayloadError,
    UnexpectedMessageTypeError,
    UnknownSchemaIdError,
    UnreadableWriterSchemaError,
    ValidationFailedError,
    WrongMagicByteError,
)
from orchestrator.codec._pg_registry import MIGRATIONS, PostgresSchemaRegistryClient
from orchestrator.codec._registry import (
    connect_registry,
    is_transient_registry_error,
    subject_name,
)
from orchestrator.codec._rest import CONTENT_TYPE as REGISTRY_CONTENT_TYPE
from orchestrator.codec._rest import RegistryHttpServer
from orchestrator.codec._settings import (
    DEFAULT_MAX_MESSAGE_BYTES,
    CodecSettings,
    RegistrySettings,
    SubjectNameStrategy,
)

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MIGRATIONS",
    "REGISTRY_CONTENT_TYPE",
    "Codec",
    "CodecSettings",
    "CompatibilityLevel",
    "DecodeError",
    "EmptyValueError",
    "EncodeError",
    "Incompatibility",
    "IncompatibleSchemaError",
    "MalformedPayloadError",
    "MessageTooLargeError",
    "PostgresSchemaRegistryClient",
    "Registration",
    "RegistryHttpServer",
    "RegistrySettings",
    "RegistryUnavailableError",
    "SubjectNameStrategy",
    "SubjectPlan",
    "SubjectSummary",
    "TrailingBytesError",
    "TruncatedHeaderError",
    "TruncatedPayloadError",
    "UnexpectedMessageTypeError",
    "UnknownSchemaIdError",
    "UnreadableWriterSchemaError",
    "ValidationFailedError",
    "WrongMagicByteError",
    "check_compatibility",
    "connect_registry",
    "is_transient_registry_error",
    "list_subjects",
    "plan_schemas",
    "register_schemas",
    "subject_name",
]
