"""The built-in schema registry: Confluent's registry semantics, kept in the event store's database.

`PostgresSchemaRegistryClient` is a `SchemaRegistryClient` whose storage is PostgreSQL instead
of HTTP, so confluent_kafka's own `AvroSerializer` and `AvroDeserializer` use it unchanged. It
implements what those serializers and `sagactl schemas` call: registering, looking up and
fetching schemas, subjects and versions, and compatibility levels. Tables: see
orchestrator/codec/migrations/050_schema_registry.sql.

Ids are global and stable: a schema's id is found by the fingerprint of its canonical JSON, and
the table's unique constraint makes concurrent registrations from several worker processes agree
on one id. Versions of a subject are numbered under a per-subject advisory lock, which also
serialises the compatibility check with the insert it guards.

Schemas are immutable once issued, so fetched ones are cached in memory for the process's
lifetime: the decode path costs no database round trip after the first message of each schema.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from importlib.abc import Traversable
from importlib.resources import files
from typing import Any, Literal, TypeVar

import avro.errors
import avro.schema
import psycopg
import psycopg.errors
from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from event_store import advisory_locks
from orchestrator.codec._compat import (
    DEFAULT_COMPATIBILITY,
    CompatibilityLevel,
    check_compatibility,
)
from orchestrator.codec._errors import RegistryUnavailableError

__all__ = ["MIGRATIONS", "PostgresSchemaRegistryClient", "schema_fingerprint"]

# The registry's tables (migration 050_schema_registry.sql), applied with the rest of the schema
# by `sagactl db migrate` (orchestrator.database). Its version number is the one it had when it
# lived with the event store's migrations, so databases that applied it find nothing to do.
MIGRATIONS: Traversable = files("orchestrator.codec") / "migrations"

T = TypeVar("T")

# Error codes as Confluent's registry returns them, so callers handle both registries alike.
_SUBJECT_NOT_FOUND = 40401
_VERSION_NOT_FOUND = 40402
_SCHEMA_NOT_FOUND = 40403
_INVALID_SCHEMA = 42201
_INVALID_COMPATIBILITY = 42203
_INCOMPATIBLE = 409
_GLOBAL = ""  # subject_config row holding the global level

# First key of the two-int advisory lock (registered with every other key of the project).
_LOCK_CLASS = advisory_locks.SCHEMA_REGISTRY_SUBJECT_CLASS


def schema_fingerprint(schema_type: str, schema_str: str) -> bytes:
    """SHA-256 of the type and canonical JSON (sorted keys, no whitespace, docs and defaults kept).

    Part of the on-disk format (the unique key of schema ids): never change it.
    """
    canonical = json.dumps(
        json.loads(schema_str), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(f"{schema_type}\0{canonical}".encode()).digest()


class PostgresSchemaRegistryClient(SchemaRegistryClient):
    """Schema registry client backed by the `schema_registry` tables of a PostgreSQL database."""

    def __init__(
        self,
        conninfo: str,
        *,
        default_compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY,
        connect_timeout_seconds: int = 5,
    ) -> None:
        # The base class wants a URL; "mock://" is the one scheme it accepts without a server.
        # Every method the serializers and the CLI use is overridden below.
        super().__init__({"url": "mock://saga-builtin-registry"})
        self._conninfo = conninfo
        self._default_compatibility = default_compatibility
        self._connect_timeout = connect_timeout_seconds
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._schemas_by_id: dict[int, Schema] = {}
        self._registered: dict[tuple[str, bytes], RegisteredSchema] = {}

    # --- connection ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        super().close()

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `work` in one transaction on the client's connection, reconnecting if needed."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(
                        self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
                    )
                with self._conn.transaction():
                    return work(self._conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # The server went away or refused us: drop the connection so the next call
                # reconnects, and tell the caller to retry rather than dead-letter.
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise RegistryUnavailableError(
                    f"built-in schema registry unreachable: {exc}"
                ) from exc
            except psycopg.errors.UndefinedTable as exc:
                raise RuntimeError(
                    "the built-in schema registry's tables are missing: run `sagactl db migrate` "
                    "(orchestrator/codec/migrations/050_schema_registry.sql)"
                ) from exc

    # --- schemas by id --------------------------------------------------------------------------

    def get_schema(
        self,
        schema_id: int,
        subject_name: str | None = None,
        fmt: str | None = None,
        reference_format: str | None = None,
    ) -> Schema:
        cached = self._schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        if not 0 < schema_id < 2**31:  # ids are int4: a forged id needs no query
            raise SchemaRegistryError(404, _SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")

        def fetch(conn: psycopg.Connection[Any]) -> tuple[str, str] | None:
            return conn.execute(
                "SELECT schema_type, schema_text FROM schema_registry.schemas WHERE id = %s",
                (schema_id,),
            ).fetchone()

        row = self._run(fetch)
        if row is None:
            raise SchemaRegistryError(404, _SCHEMA_NOT_FOUND, f"Schema {schema_id} not found")
        schema = Schema(row[1], row[0])
        self._schemas_by_id[schema_id] = schema
        return schema

    def get_schema_by_guid(self, guid: str, fmt: str | None = None) -> Schema:
        raise SchemaRegistryError(404, _SCHEMA_NOT_FOUND, "the built-in registry issues no GUIDs")

    # --- registering and looking up -------------------------------------------------------------

    def register_schema(
        self, subject_name: str, schema: Schema, normalize_schemas: bool = False
    ) -> int:
        registered = self.register_schema_full_response(subject_name, schema, normalize_schemas)
        assert registered.schema_id is not None
        return registered.schema_id

    def register_schema_full_response(
        self, subject_name: str, schema: Schema, normalize_schemas: bool = False
    ) -> RegisteredSchema:
        schema_str = _validated_avro(schema)
        fingerprint = schema_fingerprint("AVRO", schema_str)
        cached = self._registered.get((subject_name, fingerprint))
        if cached is not None:
            return cached

        def register(conn: psycopg.Connection[Any]) -> RegisteredSchema:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, subject_name)
            )
            found = _find_version(conn, subject_name, fingerprint)
            if found is not None:
                return found
            level = self._compatibility(conn, subject_name)
            earlier = conn.execute(
                "SELECT v.version, s.schema_text FROM schema_registry.subject_versions v"
                " JOIN schema_registry.schemas s ON s.id = v.schema_id"
                " WHERE v.subject = %s ORDER BY v.version",
                (subject_name,),
            ).fetchall()
            problems = check_compatibility(schema_str, [(v, t) for v, t in earlier], level)
            if problems:
                details = "; ".join(p.describe() for p in problems)
                raise SchemaRegistryError(
                    409,
                    _INCOMPATIBLE,
                    f"Schema being registered is incompatible with an earlier schema for "
                    f"subject {subject_name!r} ({level}): {details}",
                )
            # ON CONFLICT: another subject, or a concurrent process, may have issued an id for
            # the same schema; the unique fingerprint makes everyone read back that one id.
            inserted = conn.execute(
                "INSERT INTO schema_registry.schemas (fingerprint, schema_type, schema_text)"
                " VALUES (%s, 'AVRO', %s) ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
                (fingerprint, schema_str),
            ).fetchone()
            if inserted is None:
                inserted = conn.execute(
                    "SELECT id FROM schema_registry.schemas WHERE fingerprint = %s",
                    (fingerprint,),
                ).fetchone()
            assert inserted is not None
            version = len(earlier) + 1
            conn.execute(
                "INSERT INTO schema_registry.subject_versions (subject, version, schema_id)"
                " VALUES (%s, %s, %s)",
                (subject_name, version, inserted[0]),
            )
            return RegisteredSchema(
                schema_id=inserted[0],
                guid=None,
                schema=Schema(schema_str, "AVRO"),
                subject=subject_name,
                version=version,
            )

        registered = self._run(register)
        self._remember(registered, fingerprint)
        return registered

    def lookup_schema(
        self,
        subject_name: str,
        schema: Schema,
        normalize_schemas: bool = False,
        fmt: str | None = None,
        deleted: bool = False,
    ) -> RegisteredSchema:
        schema_str = _validated_avro(schema)
        fingerprint = schema_fingerprint("AVRO", schema_str)
        cached = self._registered.get((subject_name, fingerprint))
        if cached is not None:
            return cached
        found = self._run(lambda conn: _find_version(conn, subject_name, fingerprint))
        if found is None:
            raise SchemaRegistryError(
                404, _SCHEMA_NOT_FOUND, f"Schema not registered under subject {subject_name!r}"
            )
        self._remember(found, fingerprint)
        return found

    def _remember(self, registered: RegisteredSchema, fingerprint: bytes) -> None:
        assert registered.subject is not None
        assert registered.schema_id is not None
        self._registered[(registered.subject, fingerprint)] = registered
        self._schemas_by_id[registered.schema_id] = registered.schema

    # --- subjects and versions ------------------------------------------------------------------

    def get_subjects(
        self,
        subject_prefix: str | None = None,
        deleted: bool = False,
        deleted_only: bool = False,
        offset: int = 0,
        limit: int = -1,
    ) -> list[str]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT DISTINCT subject FROM schema_registry.subject_versions"
                " WHERE starts_with(subject, %s) ORDER BY subject",
                (subject_prefix or "",),
            ).fetchall()
        )
        subjects = [r[0] for r in rows][offset:]
        return subjects if limit < 0 else subjects[:limit]

    def get_versions(
        self,
        subject_name: str,
        deleted: bool = False,
        deleted_only: bool = False,
        offset: int = 0,
        limit: int = -1,
    ) -> list[int]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT version FROM schema_registry.subject_versions WHERE subject = %s"
                " ORDER BY version",
                (subject_name,),
            ).fetchall()
        )
        if not rows:
            raise SchemaRegistryError(
                404, _SUBJECT_NOT_FOUND, f"Subject {subject_name!r} not found"
            )
        versions = [r[0] for r in rows][offset:]
        return versions if limit < 0 else versions[:limit]

    def get_version(
        self,
        subject_name: str,
        version: int | Literal["latest"] = "latest",
        deleted: bool = False,
        fmt: str | None = None,
    ) -> RegisteredSchema:
        def fetch(conn: psycopg.Connection[Any]) -> tuple[int, int, str, str] | None:
            query = (
                "SELECT v.version, s.id, s.schema_type, s.schema_text"
                " FROM schema_registry.subject_versions v"
                " JOIN schema_registry.schemas s ON s.id = v.schema_id WHERE v.subject = %s"
            )
            if version == "latest":
                return conn.execute(
                    query + " ORDER BY v.version DESC LIMIT 1", (subject_name,)
                ).fetchone()
            return conn.execute(query + " AND v.version = %s", (subject_name, version)).fetchone()

        row = self._run(fetch)
        if row is None:
            raise SchemaRegistryError(
                404, _VERSION_NOT_FOUND, f"Version {version} of {subject_name!r} not found"
            )
        return RegisteredSchema(
            schema_id=row[1],
            guid=None,
            schema=Schema(row[3], row[2]),
            subject=subject_name,
            version=row[0],
        )

    def get_latest_version(self, subject_name: str, fmt: str | None = None) -> RegisteredSchema:
        return self.get_version(subject_name, "latest")

    def delete_subject(self, subject_name: str, permanent: bool = False) -> list[int]:
        raise SchemaRegistryError(
            405, 40501, "the built-in registry is append-only: replay needs every version"
        )

    def delete_version(self, subject_name: str, version: int, permanent: bool = False) -> int:
        raise SchemaRegistryError(
            405, 40501, "the built-in registry is append-only: replay needs every version"
        )

    # --- compatibility levels -------------------------------------------------------------------

    def get_compatibility(self, subject_name: str | None = None) -> str:
        return str(self._run(lambda conn: self._compatibility(conn, subject_name)))

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> str:
        try:
            parsed = CompatibilityLevel((level or "").upper())
        except ValueError:
            raise SchemaRegistryError(
                422, _INVALID_COMPATIBILITY, f"Invalid compatibility level {level!r}"
            ) from None
        self._run(
            lambda conn: conn.execute(
                "INSERT INTO schema_registry.subject_config (subject, compatibility)"
                " VALUES (%s, %s) ON CONFLICT (subject)"
                " DO UPDATE SET compatibility = EXCLUDED.compatibility, updated_at = now()",
                (subject_name or _GLOBAL, str(parsed)),
            )
        )
        return str(parsed)

    def _compatibility(
        self, conn: psycopg.Connection[Any], subject_name: str | None
    ) -> CompatibilityLevel:
        row = conn.execute(
            "SELECT compatibility FROM schema_registry.subject_config WHERE subject = ANY(%s)"
            " ORDER BY subject DESC LIMIT 1",  # the subject's own row sorts before '' (global)
            ([subject_name or _GLOBAL, _GLOBAL],),
        ).fetchone()
        return self._default_compatibility if row is None else CompatibilityLevel(row[0])


def _find_version(
    conn: psycopg.Connection[Any], subject_name: str, fingerprint: bytes
) -> RegisteredSchema | None:
    row = conn.execute(
        "SELECT v.version, s.id, s.schema_text FROM schema_registry.subject_versions v"
        " JOIN schema_registry.schemas s ON s.id = v.schema_id"
        " WHERE v.subject = %s AND s.fingerprint = %s",
        (subject_name, fingerprint),
    ).fetchone()
    if row is None:
        return None
    return RegisteredSchema(
        schema_id=row[1],
        guid=None,
        schema=Schema(row[2], "AVRO"),
        subject=subject_name,
        version=row[0],
    )


def _validated_avro(schema: Schema) -> str:
    if (schema.schema_type or "AVRO") != "AVRO":
        raise SchemaRegistryError(422, _INVALID_SCHEMA, "the built-in registry stores Avro only")
    if schema.references:
        raise SchemaRegistryError(
            422, _INVALID_SCHEMA, "schema references are not supported: inline named types"
        )
    if schema.schema_str is None:
        raise SchemaRegistryError(422, _INVALID_SCHEMA, "empty schema")
    try:
        avro.schema.parse(schema.schema_str)
    except (avro.errors.AvroException, ValueError) as exc:
        raise SchemaRegistryError(422, _INVALID_SCHEMA, f"Invalid schema: {exc}") from exc
    return schema.schema_str
