"""The Avro schema of a Message class, generated from the class: each message is written once.

The class docstring is the record's doc and each field's docstring the field's (whitespace
folded, so a docstring wrapped at the line limit gives a one-line doc). Python types map as:

    str -> string        int -> int      Long (Annotated[int, ...]) -> long
    float -> double      bool -> boolean bytes -> bytes
    X | None = None -> ["null", X] with default null
    list[X], tuple[X, ...] -> array      dict[str, X] -> map
    a str-valued Enum -> enum            a pydantic BaseModel -> record
    datetime -> long timestamp-millis    date -> int date       UUID -> string uuid

Named types (records, enums) are defined inline once and referred to by name afterwards, so
each generated file is self-contained, as a registry and a reader in another language need.
A type with no such mapping (Decimal, whose precision the class does not say) is declared in a
hand-written `.avsc` (see ``register_schema_dir``) instead.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo


class _AvroLong:
    """Marker: this int is an Avro long (64 bits) rather than an int (32 bits)."""

    def __repr__(self) -> str:
        return "long"


LONG = _AvroLong()
Long = Annotated[int, LONG]

_PRIMITIVES: dict[Any, str] = {
    str: "string",
    int: "int",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
}
_LOGICAL: dict[Any, dict[str, str]] = {
    datetime: {"type": "long", "logicalType": "timestamp-millis"},
    date: {"type": "int", "logicalType": "date"},
    UUID: {"type": "string", "logicalType": "uuid"},
}


def doc_text(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def record_schema(model: type[BaseModel], avro_name: str) -> dict[str, Any]:
    """The top-level record of ``model`` under the Avro full name ``avro_name``."""
    namespace, _, name = avro_name.rpartition(".")
    return _Generator(model.__qualname__).record(model, name, namespace or None)


class _Generator:
    def __init__(self, where: str) -> None:
        self.where = where
        self.defined: set[str] = set()

    def fail(self, field: str, detail: str) -> TypeError:
        return TypeError(f"{self.where}.{field}: {detail}")

    def record(
        self, model: type[BaseModel], name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        self.defined.add(name)
        schema: dict[str, Any] = {"type": "record", "name": name}
        if namespace:
            schema["namespace"] = namespace
        if doc := doc_text(model.__dict__.get("__doc__")):
            schema["doc"] = doc
        schema["fields"] = [self.field(n, info) for n, info in model.model_fields.items()]
        return schema

    def field(self, name: str, info: FieldInfo) -> dict[str, Any]:
        if info.alias is not None and info.alias != name:
            raise self.fail(name, "field aliases are not supported on messages")
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        field: dict[str, Any] = {"name": name, "type": self.type_of(annotation, name)}
        if not info.is_required():
            value = info.get_default(call_default_factory=True, validated_data={})
            field["default"] = TypeAdapter[Any](annotation).dump_python(value, mode="json")
            if isinstance(field["type"], list) and field["default"] is not None:
                raise self.fail(name, "an optional field's default must be None")
        if doc := doc_text(info.description):
            field["doc"] = doc
        return field

    def type_of(self, annotation: Any, name: str) -> Any:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is Annotated:
            if args[0] is int and any(isinstance(a, _AvroLong) for a in args[1:]):
                return "long"
            return self.type_of(args[0], name)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) != 1 or len(args) != 2:
                raise self.fail(name, f"only `X | None` unions are supported, not {annotation}")
            return ["null", self.type_of(members[0], name)]
        if origin in (list, tuple):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                raise self.fail(name, "only variable-length tuple[X, ...] is supported")
            return {"type": "array", "items": self.type_of(args[0], name)}
        if origin is dict:
            if args[0] is not str:
                raise self.fail(name, "maps need str keys")
            return {"type": "map", "values": self.type_of(args[1], name)}
        if origin is not None:
            raise self.fail(name, f"unsupported annotation {annotation}")
        if annotation in _LOGICAL:
            return dict(_LOGICAL[annotation])
        if annotation in _PRIMITIVES:
            return _PRIMITIVES[annotation]
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return self.enum(annotation, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__name__ in self.defined:
                return annotation.__name__
            return self.record(annotation, annotation.__name__)
        raise self.fail(
            name, f"no Avro type for {annotation}; bind the class to a hand-written .avsc"
        )

    def enum(self, annotation: type[enum.Enum], name: str) -> Any:
        if annotation.__name__ in self.defined:
            return annotation.__name__
        symbols = [member.value for member in annotation]
        if not all(isinstance(s, str) for s in symbols):
            raise self.fail(name, f"enum {annotation.__qualname__} must have str values")
        self.defined.add(annotation.__name__)
        schema: dict[str, Any] = {"type": "enum", "name": annotation.__name__}
        if doc := doc_text(annotation.__dict__.get("__doc__")):
            schema["doc"] = doc
        schema["symbols"] = symbols
        return schema


def schema_text(schema: dict[str, Any]) -> str:
    """The text of a generated `.avsc` file: what other languages and registries read."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
