"""Configuration from SAGA_* environment variables (the table in README lists them all).

Defaults point at the local stack `make up` runs, so a fresh checkout needs no settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.security import (
    KafkaSecurity,
    PostgresTls,
    SaslMechanism,
    SecretSourceError,
    SecurityProtocol,
    SslMode,
    check_kafka_security,
    check_postgres_tls,
    read_secrets,
    with_postgres_tls,
)

DEFAULT_DATABASE_URL = "postgresql://saga:saga@127.0.0.1:5433/saga"
DEFAULT_OWNER_DATABASE_URL = "postgresql://saga_owner:saga_owner@127.0.0.1:5433/saga"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


class ConfigError(ValueError):
    """A SAGA_* variable holds a value that cannot be used; the message names it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Secrets (connection strings carry passwords) are kept out of the settings' repr; each
    # may also come from a file, SAGA_<NAME>_FILE (orchestrator/security/_secrets.py).
    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    owner_database_url: str = Field(default=DEFAULT_OWNER_DATABASE_URL, repr=False)
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    # Kafka TLS and SASL, for every client (orchestrator/security/_kafka.py checks them).
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = Field(default="", repr=False)
    kafka_ssl_ca_file: str = ""
    kafka_ssl_cert_file: str = ""
    kafka_ssl_key_file: str = ""
    kafka_ssl_key_password: str = Field(default="", repr=False)
    kafka_ssl_verify_hostname: bool = True
    # PostgreSQL TLS, added to every database URL (orchestrator/security/_postgres.py).
    database_sslmode: SslMode = ""
    database_ssl_ca_file: str = ""
    database_ssl_cert_file: str = ""
    database_ssl_key_file: str = ""
    schema_registry_url: str | None = None
    schema_registry_basic_auth: str | None = Field(default=None, repr=False)
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
    participant_database_url: str = Field(default="", repr=False)
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

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _participant_database_defaults_to_owner(self) -> Settings:
        if not self.participant_database_url:
            object.__setattr__(self, "participant_database_url", self.owner_database_url)
        return self

    @model_validator(mode="after")
    def _secured(self) -> Settings:
        problems = check_kafka_security(self.kafka_security) + check_postgres_tls(self.postgres_tls)
        if problems:
            raise ValueError("; ".join(problems))
        for name in ("database_url", "owner_database_url", "participant_database_url"):
            object.__setattr__(
                self, name, with_postgres_tls(getattr(self, name), self.postgres_tls)
            )
        return self

    @property
    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ca_file=self.kafka_ssl_ca_file,
            cert_file=self.kafka_ssl_cert_file,
            key_file=self.kafka_ssl_key_file,
            key_password=self.kafka_ssl_key_password,
            verify_hostname=self.kafka_ssl_verify_hostname,
        )

    @property
    def postgres_tls(self) -> PostgresTls:
        return PostgresTls(
            sslmode=self.database_sslmode,
            ca_file=self.database_ssl_ca_file,
            cert_file=self.database_ssl_cert_file,
            key_file=self.database_ssl_key_file,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {
            name: env[f"SAGA_{name.upper()}"]
            for name in cls.model_fields
            if env.get(f"SAGA_{name.upper()}")
        }
        try:
            secrets = read_secrets(env)
        except SecretSourceError as exc:
            raise ConfigError(str(exc)) from None
        values.update(
            {variable.removeprefix("SAGA_").lower(): v for variable, v in secrets.items()}
        )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError("; ".join(_problem(err) for err in exc.errors())) from None


def _problem(error: Mapping[str, object]) -> str:
    """One validation error as `SAGA_NAME: what is wrong`. The value itself is never shown:
    it may be a secret. A check across settings names its variables in its own message."""
    location = error.get("loc")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if isinstance(location, tuple) and location:
        return f"SAGA_{str(location[0]).upper()}: {message}"
    return message


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
