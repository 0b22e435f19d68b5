"""Choosing a registry client, naming subjects, and telling transient registry failures apart."""

from __future__ import annotations

from confluent_kafka.schema_registry import SchemaRegistryClient

# The HTTP client raises httpx (or httpx2) transport errors once its own retries are spent;
# this is the module confluent_kafka itself picked between the two.
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.codec._pg_registry import PostgresSchemaRegistryClient
from orchestrator.codec._settings import RegistrySettings, SubjectNameStrategy

__all__ = ["connect_registry", "is_transient_registry_error", "subject_name"]


def connect_registry(settings: RegistrySettings) -> SchemaRegistryClient:
    """An HTTP client for SAGA_SCHEMA_REGISTRY_URL, else the built-in PostgreSQL registry.

    Neither connects until first used.
    """
    if settings.url:
        conf: dict[str, str] = {"url": settings.url}
        if settings.basic_auth:
            conf["basic.auth.user.info"] = settings.basic_auth
        return SchemaRegistryClient(conf)
    return PostgresSchemaRegistryClient(
        settings.database_url, default_compatibility=settings.default_compatibility
    )


def subject_name(strategy: SubjectNameStrategy, topic: str, record_full_name: str) -> str:
    """The subject confluent_kafka's serializers use for a value under `strategy`."""
    if strategy == "TOPIC_RECORD":
        return f"{topic}-{record_full_name}"
    if strategy == "RECORD":
        return record_full_name
    return f"{topic}-value"


def is_transient_registry_error(exc: BaseException) -> bool:
    """True for failures to reach the registry (retry), false for answers about the data."""
    if isinstance(exc, SchemaRegistryError):
        # 5xx, throttling, timeouts and unparseable replies (-1) say nothing about the data.
        status = exc.http_status_code
        return (
            status >= 500 or status in (408, 429) or exc.error_code == SchemaRegistryError.UNKNOWN
        )
    return isinstance(exc, httpx.TransportError | OSError)
