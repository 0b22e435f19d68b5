"""Wiring for one orchestrator process, built once from Settings: what `sagactl worker`, the
participants and the demo share, so that each command is a few lines."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from orchestrator.codec import Codec, CodecSettings, RegistrySettings, connect_registry
from orchestrator.config import ConfigError, Settings
from orchestrator.observability import HealthState, Metrics, serve_http
from orchestrator.saga import Saga, SagaRegistry


def load_sagas(spec: str) -> list[type[Saga]]:
    """`module:Class,module:Class` → the saga classes (SAGA_SAGAS)."""
    classes: list[type[Saga]] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        module_name, _, class_name = item.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"SAGA_SAGAS: cannot load {item!r}: {exc}") from None
        if not (isinstance(found, type) and issubclass(found, Saga)):
            raise ConfigError(f"SAGA_SAGAS: {item!r} is not a Saga subclass")
        classes.append(found)
    if not classes:
        raise ConfigError("SAGA_SAGAS names no saga class")
    return classes


def build_codec(settings: Settings) -> Codec:
    registry = connect_registry(
        RegistrySettings(
            url=settings.schema_registry_url,
            basic_auth=settings.schema_registry_basic_auth,
            database_url=settings.database_url,
        )
    )
    return Codec(
        registry,
        CodecSettings(
            max_message_bytes=settings.max_message_bytes,
            subject_name_strategy=settings.subject_name_strategy,
            auto_register=settings.schema_auto_register,
        ),
    )


@dataclass
class App:
    settings: Settings
    registry: SagaRegistry
    codec: Codec
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    health: HealthState = field(default_factory=HealthState)

    @classmethod
    def from_settings(cls, settings: Settings) -> App:
        return cls(settings, SagaRegistry(load_sagas(settings.sagas)), build_codec(settings))

    def metrics(self) -> Metrics:
        return Metrics(self.metrics_registry)

    def event_store(self) -> PostgresEventStore:
        return PostgresEventStore(
            self.settings.database_url, max_payload_bytes=self.settings.max_message_bytes
        )

    def checkpoints(self) -> PostgresCheckpointStore:
        return PostgresCheckpointStore(self.settings.database_url)

    def serve_metrics(self) -> object | None:
        # 0 means off: serve_http(0) would pick a free port, which nothing could scrape.
        if self.settings.metrics_port == 0:
            return None
        return serve_http(self.settings.metrics_port, self.metrics_registry, self.health)
