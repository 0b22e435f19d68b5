"""Configuration from SAGA_* environment variables (the table in README lists them all).

Defaults point at the local stack `make up` runs, so a fresh checkout needs no settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_DATABASE_URL = "postgresql://saga:saga@127.0.0.1:5433/saga"
DEFAULT_OWNER_DATABASE_URL = "postgresql://saga_owner:saga_owner@127.0.0.1:5433/saga"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


class ConfigError(ValueError):
    """A SAGA_* variable holds a value that cannot be used; the message names it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    owner_database_url: str = DEFAULT_OWNER_DATABASE_URL
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    schema_registry_url: str | None = None
    schema_registry_basic_auth: str | None = None
    subject_name_strategy: Literal["TOPIC_RECORD", "RECORD", "TOPIC"] = "TOPIC_RECORD"
    schema_auto_register: bool = True
    consumer_group: str = "saga-orchestrator"
    topic_partitions: int = Field(default=8, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    batch_max_messages: int = Field(default=500, ge=1)
    batch_max_wait_ms: int = Field(default=50, ge=0)
    cache_max_instances: int = Field(default=100_000, ge=0)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: JSON lines unless stderr is a terminal (containers, CI, log collectors get JSON).
    log_format: Literal["console", "json", "auto"] = "auto"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # A saga in an active status with no event for this long counts in saga_stuck_sagas.
    stuck_after_s: int = Field(default=300, ge=1)
    # Jaeger's query API and UI, for the links `sagactl demo` prints (tracing itself is set by
    # the standard OTEL_* variables, see README "Tracing").
    jaeger_url: str = "http://127.0.0.1:16686"
    # Young-generation threshold of the garbage collector in the long-running processes, which
    # also freeze their start-up objects (see orchestrator/cli/_gc.py); 0 keeps Python's.
    gc_gen0_threshold: int = Field(default=50_000, ge=0)
    # The event format new sagas are written in (see orchestrator/saga/events.py). During a
    # rolling upgrade, the newest format the oldest running worker knows (2 from the release
    # before format 3, 1 from one that knows no formats), so its workers can still replay every
    # saga; 3 once none of them is left.
    event_format: int = Field(default=3, ge=1, le=3)
    # Whether `sagactl worker` also keeps the projections (saga_instances, timers) up to date;
    # off when a separate `sagactl projector` runs, which frees the worker's CPU for sagas.
    worker_projector: bool = True
    # The saga classes a worker runs, as module:Class, comma-separated.
    sagas: str = "sagas.order_fulfilment:OrderFulfilment,sagas.trip_booking:TripBooking"
    # The definition version new instances of a saga type start on, as `saga_type=version,...`
    # (unnamed types: their newest registered version). A rolling deploy of v2 pins the type at
    # 1 until no worker that knows only v1 is left, then at 2. The worker checks each entry
    # against the sagas it registers.
    start_versions: dict[str, int] = Field(default_factory=dict)
    # The demo participants' own database (their inbox and effects). Unset: the owner URL, as
    # configured (a participant creates its own tables), so compose and helm need not repeat it.
    participant_database_url: str = ""
    # Anchors (orchestrator/archive): the leader writes a signed checkpoint of every stream's
    # head to `anchor_topic` every `anchor_interval_s` seconds (0: never), signed with the
    # Ed25519 key in `anchor_signing_key_file` (unset: the leader writes none).
    anchor_interval_s: int = Field(default=600, ge=0)
    anchor_topic: str = Field(default="saga.anchors", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    anchor_signing_key_file: str = ""

    @field_validator("start_versions", mode="before")
    @classmethod
    def _parse_start_versions(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return parse_start_versions(value)

    @model_validator(mode="after")
    def _participant_database_defaults_to_owner(self) -> Settings:
        if not self.participant_database_url:
            object.__setattr__(self, "participant_database_url", self.owner_database_url)
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            name: env[f"SAGA_{name.upper()}"]
            for name in cls.model_fields
            if env.get(f"SAGA_{name.upper()}")
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"SAGA_{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(problems) from None


def parse_start_versions(text: str) -> dict[str, int]:
    """`order_fulfilment=1,trip_booking=2` -> {"order_fulfilment": 1, "trip_booking": 2}."""
    versions: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        saga_type, equals, version = (piece.strip() for piece in entry.partition("="))
        if not equals or not saga_type or not version.isdigit() or int(version) < 1:
            raise ValueError(f"{entry!r} is not saga_type=version (a version is 1 or more)")
        if saga_type in versions:
            raise ValueError(f"{saga_type} is pinned twice")
        versions[saga_type] = int(version)
    return versions
