"""Compare the working tree's .avsc files with a registry, and register them: `sagactl schemas`.

A record's subjects are every subject the registry already holds for it (whatever strategy
named them) plus those named by explicit topic bindings. Each (file, subject) pair is checked
against the subject's registered versions under the subject's compatibility level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.codec._compat import (
    DEFAULT_COMPATIBILITY,
    CompatibilityLevel,
    Incompatibility,
    check_compatibility,
)
from orchestrator.codec._names import record_full_name
from orchestrator.codec._pg_registry import schema_fingerprint
from orchestrator.codec._registry import subject_name
from orchestrator.codec._settings import SubjectNameStrategy
from orchestrator.messages import AvroSchemaFile

__all__ = [
    "Registration",
    "SubjectPlan",
    "SubjectSummary",
    "list_subjects",
    "plan_schemas",
    "register_schemas",
]

Status = Literal["new", "registered", "compatible", "incompatible", "unbound"]


@dataclass(frozen=True, slots=True)
class SubjectPlan:
    """One schema file against one subject (or against none: `unbound`)."""

    record: str
    origin: str
    subject: str | None
    status: Status
    compatibility: CompatibilityLevel | None = None
    latest_version: int | None = None
    incompatibilities: tuple[Incompatibility, ...] = ()

    @property
    def needs_registering(self) -> bool:
        return self.status in ("new", "compatible")


@dataclass(frozen=True, slots=True)
class Registration:
    subject: str
    record: str
    schema_id: int
    version: int


@dataclass(frozen=True, slots=True)
class SubjectSummary:
    subject: str
    record: str | None
    versions: tuple[int, ...]
    latest_schema_id: int
    compatibility: CompatibilityLevel


def plan_schemas(
    registry: SchemaRegistryClient,
    files: Sequence[AvroSchemaFile],
    *,
    bindings: Iterable[tuple[str, str]] = (),
    strategy: SubjectNameStrategy = "TOPIC_RECORD",
    default_level: CompatibilityLevel = DEFAULT_COMPATIBILITY,
) -> list[SubjectPlan]:
    """What registering `files` would do to each of their subjects."""
    subjects: dict[str, set[str]] = {}
    for subject in registry.get_subjects():
        record = record_full_name(registry.get_latest_version(subject).schema.schema_str)
        if record is not None:
            subjects.setdefault(record, set()).add(subject)
    for topic, record in bindings:
        subjects.setdefault(record, set()).add(subject_name(strategy, topic, record))

    plans: list[SubjectPlan] = []
    for schema_file in files:
        targets = sorted(subjects.get(schema_file.full_name, ()))
        if not targets:
            plans.append(SubjectPlan(schema_file.full_name, schema_file.origin, None, "unbound"))
        for subject in targets:
            plans.append(_plan_subject(registry, schema_file, subject, default_level))
    return plans


def register_schemas(
    registry: SchemaRegistryClient,
    files: Sequence[AvroSchemaFile],
    plans: Sequence[SubjectPlan],
    *,
    new_subject_level: CompatibilityLevel = DEFAULT_COMPATIBILITY,
) -> list[Registration]:
    """Register every planned new or compatible schema. Call only when no plan is incompatible.

    A new subject gets `new_subject_level` explicitly, because an external registry's global
    default (Confluent's is BACKWARD) is weaker than what replay needs.
    """
    by_name = {f.full_name: f for f in files}
    done: list[Registration] = []
    for item in plans:
        if not item.needs_registering or item.subject is None:
            continue
        if item.status == "new":
            registry.set_compatibility(item.subject, str(new_subject_level))
        registered = registry.register_schema_full_response(
            item.subject, Schema(by_name[item.record].schema_str, "AVRO")
        )
        assert registered.schema_id is not None
        assert registered.version is not None
        done.append(
            Registration(item.subject, item.record, registered.schema_id, registered.version)
        )
    return done


def list_subjects(
    registry: SchemaRegistryClient, default_level: CompatibilityLevel = DEFAULT_COMPATIBILITY
) -> list[SubjectSummary]:
    summaries = []
    for subject in sorted(registry.get_subjects()):
        latest = registry.get_latest_version(subject)
        assert latest.schema_id is not None
        summaries.append(
            SubjectSummary(
                subject=subject,
                record=record_full_name(latest.schema.schema_str),
                versions=tuple(registry.get_versions(subject)),
                latest_schema_id=latest.schema_id,
                compatibility=subject_level(registry, subject, default_level),
            )
        )
    return summaries


def subject_level(
    registry: SchemaRegistryClient, subject: str, default_level: CompatibilityLevel
) -> CompatibilityLevel:
    """The subject's level, else the registry's global level, else `default_level`."""
    for scope in (subject, None):
        try:
            return CompatibilityLevel(registry.get_compatibility(scope))
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:  # Confluent: 404 when no level is set at that scope
                raise
    return default_level


def _plan_subject(
    registry: SchemaRegistryClient,
    schema_file: AvroSchemaFile,
    subject: str,
    default_level: CompatibilityLevel,
) -> SubjectPlan:
    try:
        versions = registry.get_versions(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code != 404:
            raise
        versions = []
    level = subject_level(registry, subject, default_level)
    if not versions:
        return SubjectPlan(schema_file.full_name, schema_file.origin, subject, "new", level)
    registered = []
    for version in versions:
        text = registry.get_version(subject, version).schema.schema_str
        assert text is not None
        registered.append((version, text))
    fingerprint = schema_fingerprint("AVRO", schema_file.schema_str)
    status: Status
    problems: tuple[Incompatibility, ...] = ()
    if any(schema_fingerprint("AVRO", text) == fingerprint for _, text in registered):
        status = "registered"
    else:
        problems = tuple(check_compatibility(schema_file.schema_str, registered, level))
        status = "incompatible" if problems else "compatible"
    return SubjectPlan(
        schema_file.full_name,
        schema_file.origin,
        subject,
        status,
        compatibility=level,
        latest_version=max(versions),
        incompatibilities=problems,
    )
