"""The built-in registry in PostgreSQL: stable ids, concurrency, evolution, privileges."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.codec import (
    Codec,
    IncompatibleSchemaError,
    PostgresSchemaRegistryClient,
    RegistryUnavailableError,
)
from tests.conftest import PgUrls
from tests.unit.codec.codec_samples import ReserveStock, typical_command


def record(unique: str, *extra_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"Probe{unique}",
        "namespace": "saga.test.registry",
        "doc": "probe",
        "fields": [{"name": "id", "type": "string", "doc": "id"}, *extra_fields],
    }


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


def test_ids_survive_a_restart_and_are_shared_across_subjects(
    registry_db: PgUrls, unique: str
) -> None:
    schema = avro(record(unique))
    first = PostgresSchemaRegistryClient(registry_db.app)
    registered = first.register_schema_full_response(f"a-{unique}", schema)
    again = first.register_schema_full_response(f"a-{unique}", schema)
    first.close()

    assert registered.schema_id is not None
    restarted = PostgresSchemaRegistryClient(registry_db.app)
    try:
        assert restarted.get_schema(registered.schema_id).schema_str == schema.schema_str
        assert restarted.lookup_schema(f"a-{unique}", schema).schema_id == registered.schema_id
        other = restarted.register_schema_full_response(f"b-{unique}", schema)
        assert (again.version, again.schema_id) == (1, registered.schema_id)
        assert (other.version, other.schema_id) == (1, registered.schema_id)
        assert restarted.get_subjects(subject_prefix=f"b-{unique}") == [f"b-{unique}"]
    finally:
        restarted.close()


_REGISTER_IN_A_CHILD = """
import json, sys, time
from confluent_kafka.schema_registry import Schema
from orchestrator.codec import PostgresSchemaRegistryClient
conninfo, subject, schema, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
client = PostgresSchemaRegistryClient(conninfo)
client.get_compatibility()  # connect before the start line, so both race on the insert only
time.sleep(max(0.0, start_at - time.time()))  # on purpose: both children start at one instant
print(client.register_schema(subject, Schema(schema, "AVRO")))
"""


def test_two_processes_registering_at_once_get_one_id(registry_db: PgUrls, unique: str) -> None:
    schema = json.dumps(record(unique))
    start_at = str(time.time() + 2.0)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _REGISTER_IN_A_CHILD,
                registry_db.app,
                subject,
                schema,
                start_at,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for subject in (f"p-{unique}", f"p-{unique}", f"q-{unique}")
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    ids = {int(out.strip()) for out, _ in outputs}
    assert len(ids) == 1
    client = PostgresSchemaRegistryClient(registry_db.app)
    assert client.get_versions(f"p-{unique}") == [1]
    client.close()


def test_threads_with_their_own_connections_agree_on_ids_and_versions(
    registry_db: PgUrls, unique: str
) -> None:
    v1 = avro(record(unique))
    v2 = avro(record(unique, {"name": "n", "type": "int", "default": 0, "doc": "n"}))
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(8)

    def register(schema: Schema) -> None:
        client = PostgresSchemaRegistryClient(registry_db.app)
        try:
            client.get_compatibility()
            barrier.wait()
            registered = client.register_schema_full_response(f"t-{unique}", schema)
            assert registered.schema_id is not None
            assert registered.version is not None
            results.append((registered.schema_id, registered.version))
        finally:
            client.close()

    threads = [threading.Thread(target=register, args=(v1 if i % 2 else v2,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    assert len(set(results)) == 2  # two schemas, each one (id, version) for every thread
    assert sorted({version for _, version in results}) == [1, 2]


def test_backward_transitive_is_enforced_on_registration(
    pg_registry: PostgresSchemaRegistryClient, unique: str
) -> None:
    subject = f"evo-{unique}"
    v1 = record(
        unique, {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A", "B"]}}
    )
    pg_registry.register_schema(subject, avro(v1))
    assert pg_registry.get_compatibility(subject) == "BACKWARD_TRANSITIVE"

    compatible = copy.deepcopy(v1)
    compatible["fields"].append({"name": "note", "type": "string", "default": ""})
    assert pg_registry.register_schema_full_response(subject, avro(compatible)).version == 2

    no_default = copy.deepcopy(compatible)
    no_default["fields"].append({"name": "count", "type": "int"})
    symbol_removed = copy.deepcopy(compatible)
    symbol_removed["fields"][1]["type"]["symbols"] = ["A"]
    type_changed = copy.deepcopy(compatible)
    type_changed["fields"][0]["type"] = "long"
    for bad, kind in [
        (no_default, "reader_field_missing_default_value"),
        (symbol_removed, "missing_enum_symbols"),
        (type_changed, "type_mismatch"),
    ]:
        with pytest.raises(SchemaRegistryError, match=kind) as caught:
            pg_registry.register_schema(subject, avro(bad))
        assert caught.value.http_status_code == 409
    assert pg_registry.get_versions(subject) == [1, 2]

    pg_registry.set_compatibility(subject, "NONE")
    assert pg_registry.get_compatibility(subject) == "NONE"
    assert pg_registry.register_schema_full_response(subject, avro(type_changed)).version == 3


def test_the_codec_reports_an_incompatible_schema(
    pg_registry: PostgresSchemaRegistryClient, unique: str
) -> None:
    topic = f"codec-incompatible-{unique}"
    changed = copy.deepcopy(dict(ReserveStock.avro_schema.schema))
    changed["fields"][0]["type"] = "long"
    pg_registry.register_schema(f"{topic}-{ReserveStock.avro_name}", avro(changed))
    with pytest.raises(IncompatibleSchemaError, match="type_mismatch"):
        Codec(pg_registry).encode(topic, typical_command())


def test_the_app_role_cannot_rewrite_registered_schemas(registry_db: PgUrls) -> None:
    with psycopg.connect(registry_db.app) as conn:
        for statement in (
            "UPDATE schema_registry.schemas SET schema_text = schema_text",
            "DELETE FROM schema_registry.subject_versions",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_an_unreachable_database_is_transient(unique: str) -> None:
    client = PostgresSchemaRegistryClient(
        "postgresql://saga:saga@127.0.0.1:1/saga", connect_timeout_seconds=2
    )
    with pytest.raises(RegistryUnavailableError):
        client.get_schema(123)
    with pytest.raises(RegistryUnavailableError):
        Codec(client).decode(f"t-{unique}", b"\x00\x00\x00\x00\x7b\x02", accepted=[ReserveStock])
