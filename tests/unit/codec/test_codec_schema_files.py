"""The .avsc files written from the Message classes (orchestrator/saga/schemas, sagas/schemas)
are a contract for other languages: documented, namespaced, valid Avro, each the schema of
exactly one Message class, and current (what the classes generate now)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import avro.schema
import pytest

import orchestrator
import sagas
from orchestrator.messages import AvroSchemaFile, load_schema_dir, message_class
from orchestrator.saga import stale_schemas
from orchestrator.saga._avsc import CONTROL_SCHEMA_DIR
from sagas.schemas import expected
from tests.unit.codec.codec_samples import SCHEMA_DIR

GENERATED_DIRS = (CONTROL_SCHEMA_DIR, Path(sagas.__file__).parent / "schemas")


def generated_files() -> list[AvroSchemaFile]:
    return [f for d in GENERATED_DIRS for f in load_schema_dir(d)]


def contract_files() -> list[AvroSchemaFile]:
    return generated_files() + load_schema_dir(SCHEMA_DIR)


def named_types(schema: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types(branch, path)
    elif isinstance(schema, dict):
        if schema.get("type") in {"record", "enum", "fixed"}:
            yield f"{path}:{schema['name']}", schema
        for field in schema.get("fields", []):
            yield from named_types(field["type"], f"{path}.{field['name']}")
        for key in ("items", "values"):
            if key in schema:
                yield from named_types(schema[key], path)


@pytest.mark.parametrize("schema_file", contract_files(), ids=lambda f: f.full_name)
def test_schema_is_documented_namespaced_and_valid(schema_file: AvroSchemaFile) -> None:
    avro.schema.parse(schema_file.schema_str)
    assert "." in schema_file.full_name, f"{schema_file.origin}: give the record a namespace"
    for where, named in named_types(schema_file.schema, schema_file.full_name):
        if named["type"] == "record":
            assert named.get("doc"), f"{schema_file.origin}: record {where} has no doc"
            for field in named["fields"]:
                assert field.get("doc"), (
                    f"{schema_file.origin}: field {where}.{field['name']} has no doc"
                )


def import_everything() -> None:
    for package in (orchestrator, sagas):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def test_every_schema_in_the_package_has_its_message_class() -> None:
    import_everything()
    unbound = []
    for schema_file in generated_files():
        try:
            bound = message_class(schema_file.full_name)
        except LookupError:
            unbound.append(schema_file.origin)
            continue
        assert bound.avro_schema.generated, f"{schema_file.origin} is read by {bound}"
        assert bound.avro_schema.schema == schema_file.schema, schema_file.origin
    assert unbound == [], "no Message class is bound to these schemas"


def test_the_files_are_what_the_classes_generate_now() -> None:
    assert stale_schemas(expected()) == []
