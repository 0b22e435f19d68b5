"""Codec and registry settings, read from the environment by the runtime and the CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from orchestrator.codec._compat import DEFAULT_COMPATIBILITY, CompatibilityLevel

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "CodecSettings", "RegistrySettings", "SubjectNameStrategy"]

# The names confluent_kafka's serializers accept for `subject.name.strategy.type`.
SubjectNameStrategy = Literal["TOPIC_RECORD", "RECORD", "TOPIC"]

_STRATEGIES: dict[str, SubjectNameStrategy] = {s: s for s in get_args(SubjectNameStrategy)}

# Matches the brokers' default message.max.bytes: anything larger cannot have come from a
# well-behaved producer, and refusing it before decoding bounds the work one message can cause.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

_DEFAULT_DATABASE_URL = "postgresql://saga:saga@127.0.0.1:5433/saga"


@dataclass(frozen=True, slots=True)
class CodecSettings:
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # TOPIC_RECORD ("<topic>-<record full name>") lets one topic carry several message types,
    # as a saga's reply topic does, each with its own evolution history.
    subject_name_strategy: SubjectNameStrategy = "TOPIC_RECORD"
    # Workers register the schemas they write on first use. Production deployments with an
    # external registry usually turn this off and register in CI with `sagactl schemas register`.
    auto_register: bool = True

    def __post_init__(self) -> None:
        if self.max_message_bytes <= 5:
            raise ValueError("max_message_bytes must leave room for the 5-byte wire header")
        if self.subject_name_strategy not in get_args(SubjectNameStrategy):
            raise ValueError(f"unknown subject name strategy {self.subject_name_strategy!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CodecSettings:
        """SAGA_MAX_MESSAGE_BYTES, SAGA_SUBJECT_NAME_STRATEGY, SAGA_SCHEMA_AUTO_REGISTER."""
        name = environ.get("SAGA_SUBJECT_NAME_STRATEGY", "TOPIC_RECORD").upper()
        strategy = _STRATEGIES.get(name)
        if strategy is None:
            raise ValueError(f"SAGA_SUBJECT_NAME_STRATEGY: unknown strategy {name!r}")
        return cls(
            max_message_bytes=int(
                environ.get("SAGA_MAX_MESSAGE_BYTES", str(DEFAULT_MAX_MESSAGE_BYTES))
            ),
            subject_name_strategy=strategy,
            auto_register=environ.get("SAGA_SCHEMA_AUTO_REGISTER", "true").lower()
            in {"1", "true", "yes"},
        )


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """Which registry to use: an external Confluent-compatible one, or the built-in one."""

    url: str | None = None  # SAGA_SCHEMA_REGISTRY_URL; unset means the built-in registry
    basic_auth: str | None = None  # SAGA_SCHEMA_REGISTRY_BASIC_AUTH, "user:password"
    database_url: str = _DEFAULT_DATABASE_URL  # SAGA_DATABASE_URL, for the built-in registry
    default_compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY

    def __repr__(self) -> str:  # never print the password
        auth = "***" if self.basic_auth else None
        return f"RegistrySettings(url={self.url!r}, basic_auth={auth!r}, builtin={self.builtin})"

    @property
    def builtin(self) -> bool:
        return not self.url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RegistrySettings:
        return cls(
            url=environ.get("SAGA_SCHEMA_REGISTRY_URL") or None,
            basic_auth=environ.get("SAGA_SCHEMA_REGISTRY_BASIC_AUTH") or None,
            database_url=environ.get("SAGA_DATABASE_URL", _DEFAULT_DATABASE_URL),
        )
