"""A Message class must match its .avsc exactly, or fail at class creation naming the field."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pydantic import BaseModel, Field

from orchestrator.messages import Long, Message, message_class, register_schema_dir

NAMESPACE = "saga.test.drift"


def write_schema(tmp_path: Path, fields: list[dict[str, Any]]) -> str:
    """Write a one-record .avsc with a fresh name into its own directory; return the full name."""
    name = f"R{uuid4().hex[:10]}"
    directory = tmp_path / name
    directory.mkdir()
    schema = {"type": "record", "name": name, "namespace": NAMESPACE, "doc": "t", "fields": fields}
    (directory / f"{name}.avsc").write_text(json.dumps(schema))
    register_schema_dir(directory)
    return f"{NAMESPACE}.{name}"


class Colour(enum.StrEnum):
    RED = "RED"
    GREEN = "GREEN"


class Inner(BaseModel):
    sku: str
    count: int


def test_a_matching_class_binds_and_is_found_by_name(tmp_path: Path) -> None:
    name = write_schema(
        tmp_path,
        [
            {"name": "a", "type": "string"},
            {"name": "b", "type": "long", "default": 7},
            {"name": "c", "type": ["null", "double"], "default": None},
            {"name": "d", "type": {"type": "array", "items": "string"}, "default": ["x"]},
            {"name": "e", "type": {"type": "map", "values": "boolean"}, "default": {}},
            {
                "name": "f",
                "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]},
                "default": "GREEN",
            },
            {
                "name": "g",
                "type": {
                    "type": "record",
                    "name": "Inner",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "count", "type": "int"}],
                },
            },
            {"name": "h", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        ],
    )

    class Good(Message, avro_name=name):
        a: str
        b: int = 7
        c: float | None = None
        d: list[str] = Field(default_factory=lambda: ["x"])
        e: dict[str, bool] = Field(default_factory=dict)
        f: Colour = Colour.GREEN
        g: Inner
        h: datetime

    assert message_class(name) is Good
    assert Good.avro_schema.full_name == name
    assert json.loads(Good.avro_schema.schema_str)["name"] == name.rsplit(".", 1)[1]


def test_a_class_without_an_avsc_gets_its_schema_from_the_class() -> None:
    class Written(Message, avro_name="saga.test.drift.Written"):
        """A message written once."""

        a: str
        """The a."""
        n: Long
        maybe: str | None = None

    assert Written.avro_schema.generated
    assert Written.avro_schema.schema == {
        "type": "record",
        "name": "Written",
        "namespace": "saga.test.drift",
        "doc": "A message written once.",
        "fields": [
            {"name": "a", "type": "string", "doc": "The a."},
            {"name": "n", "type": "long"},
            {"name": "maybe", "type": ["null", "string"], "default": None},
        ],
    }


def test_a_class_of_a_type_with_no_generated_form_needs_an_avsc() -> None:
    with pytest.raises(TypeError, match=r"Priced\.price: no Avro type for .*Decimal"):

        class Priced(Message, avro_name="saga.test.drift.Priced"):
            price: Decimal


def test_field_missing_from_the_class(tmp_path: Path) -> None:
    name = write_schema(tmp_path, [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}])
    with pytest.raises(TypeError, match=r"Short\.b: field is in .*\.avsc but not in the class"):

        class Short(Message, avro_name=name):
            a: str


def test_field_missing_from_the_avsc(tmp_path: Path) -> None:
    name = write_schema(tmp_path, [{"name": "a", "type": "string"}])
    with pytest.raises(TypeError, match=r"Long\.z: field is in the class but not in"):

        class Long(Message, avro_name=name):
            a: str
            z: int


@pytest.mark.parametrize(
    ("annotation", "avro_type"),
    [
        (int, "string"),
        (str, "int"),
        (bool, "int"),
        (float, "long"),
        (bytes, "string"),
        (list[int], {"type": "array", "items": "string"}),
        (dict[str, int], {"type": "map", "values": "string"}),
        (list[int], {"type": "map", "values": "int"}),
        (int, {"type": "long", "logicalType": "timestamp-millis"}),
        (datetime, "long"),
        (datetime, {"type": "int", "logicalType": "date"}),
    ],
)
def test_type_mismatch_names_the_field(tmp_path: Path, annotation: Any, avro_type: Any) -> None:
    name = write_schema(tmp_path, [{"name": "x", "type": avro_type}])
    with pytest.raises(TypeError, match=r"Typed\.x.*does not match"):
        type(
            "Typed",
            (Message,),
            {"__annotations__": {"x": annotation}, "__qualname__": "Typed"},
            avro_name=name,
        )


def test_optional_in_the_class_but_not_in_the_avsc(tmp_path: Path) -> None:
    name = write_schema(tmp_path, [{"name": "x", "type": "string", "default": "q"}])
    with pytest.raises(TypeError, match=r"Opt\.x.*union with null"):

        class Opt(Message, avro_name=name):
            x: str | None = "q"


def test_nullable_in_the_avsc_but_required_in_the_class(tmp_path: Path) -> None:
    name = write_schema(tmp_path, [{"name": "x", "type": ["null", "string"], "default": None}])
    with pytest.raises(TypeError, match=r"Req\.x.*declare the field as `X \| None`"):

        class Req(Message, avro_name=name):
            x: str


@pytest.mark.parametrize(
    ("avro_field", "class_default", "pattern"),
    [
        ({"name": "x", "type": "int", "default": 1}, 2, r"Dflt\.x: default 2 differs from 1"),
        ({"name": "x", "type": "int"}, 2, r"Dflt\.x: the class field has a default"),
        ({"name": "x", "type": "int", "default": 2}, ..., r"Dflt\.x: .*gives a default \(2\)"),
        (
            {"name": "x", "type": ["int", "null"], "default": None},
            None,
            r"Dflt\.x: a null default needs \"null\" as the first branch",
        ),
    ],
)
def test_default_drift(
    tmp_path: Path, avro_field: dict[str, Any], class_default: Any, pattern: str
) -> None:
    name = write_schema(tmp_path, [avro_field])
    optional = isinstance(avro_field["type"], list)
    namespace: dict[str, Any] = {
        "__annotations__": {"x": int | None if optional else int},
        "__qualname__": "Dflt",
    }
    if class_default is not ...:
        namespace["x"] = class_default
    with pytest.raises(TypeError, match=pattern):
        type("Dflt", (Message,), namespace, avro_name=name)


def test_enum_symbols_drift(tmp_path: Path) -> None:
    name = write_schema(
        tmp_path,
        [{"name": "c", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "BLUE"]}}],
    )
    with pytest.raises(TypeError, match=r"Paint\.c: enum Colour values \['RED', 'GREEN'\] differ"):

        class Paint(Message, avro_name=name):
            c: Colour


def test_nested_record_drift_names_the_nested_field(tmp_path: Path) -> None:
    inner = {
        "type": "record",
        "name": "Inner",
        "fields": [{"name": "sku", "type": "string"}, {"name": "count", "type": "string"}],
    }
    name = write_schema(tmp_path, [{"name": "items", "type": {"type": "array", "items": inner}}])
    with pytest.raises(TypeError, match=r"Order\.items\[\]\.count: type int does not match string"):

        class Order(Message, avro_name=name):
            items: list[Inner]


def test_a_second_class_cannot_claim_a_bound_record(tmp_path: Path) -> None:
    name = write_schema(tmp_path, [{"name": "a", "type": "string"}])

    class First(Message, avro_name=name):
        a: str

    with pytest.raises(TypeError, match=r"Second: Avro record .* is already bound to .*First"):

        class Second(Message, avro_name=name):
            a: str


def test_unsupported_annotations_are_rejected(tmp_path: Path) -> None:
    name = write_schema(
        tmp_path, [{"name": "a", "type": ["null", "string", "int"], "default": None}]
    )
    with pytest.raises(TypeError, match=r"Multi\.a: only `X \| None` unions are supported"):

        class Multi(Message, avro_name=name):
            a: str | int | None = None
