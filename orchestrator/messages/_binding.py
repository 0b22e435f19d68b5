"""The drift check: a Message class bound to a hand-written `.avsc` must match it field by
field (names, types, optionality, defaults, enum symbols, nested records, arrays, maps, logical
types); a mismatch raises a TypeError naming the class and the field. Generated schemas pass it
by construction, and are run through it too, so generator and checker cannot disagree.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import fastavro
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from orchestrator.messages import AvroSchemaFile


def check_binding(cls: type[BaseModel], schema_file: AvroSchemaFile) -> None:
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(dict(schema_file.schema), named_schemas=named)
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise TypeError(
            f"{cls.__qualname__}: {schema_file.origin} is not a valid self-contained Avro "
            f"schema: {exc}"
        ) from exc
    if not isinstance(parsed, dict):
        raise TypeError(f"{cls.__qualname__}: {schema_file.origin} is not a record schema")
    _check_model(cls, parsed, named, cls.__qualname__, schema_file.origin)


def _check_model(
    model: type[BaseModel],
    record: Mapping[str, Any],
    named: Mapping[str, Any],
    where: str,
    origin: str,
) -> None:
    avro_fields = {f["name"]: f for f in record["fields"]}
    model_fields = model.model_fields
    if only_avro := sorted(avro_fields.keys() - model_fields.keys()):
        raise TypeError(f"{where}.{only_avro[0]}: field is in {origin} but not in the class")
    if only_model := sorted(model_fields.keys() - avro_fields.keys()):
        raise TypeError(f"{where}.{only_model[0]}: field is in the class but not in {origin}")
    for name, info in model_fields.items():
        if info.alias is not None and info.alias != name:
            raise TypeError(f"{where}.{name}: field aliases are not supported on messages")
        field_where = f"{where}.{name}"
        avro_field = avro_fields[name]
        _check_type(info.annotation, avro_field["type"], named, field_where, origin)
        _check_default(info, avro_field, field_where, origin)


_PRIMITIVES: dict[Any, frozenset[str]] = {
    str: frozenset({"string"}),
    int: frozenset({"int", "long"}),
    float: frozenset({"float", "double"}),
    bool: frozenset({"boolean"}),
    bytes: frozenset({"bytes"}),
}

# Python type -> the (Avro type, logicalType) pairs it may bind to.
_LOGICAL: dict[Any, frozenset[tuple[str, str]]] = {
    datetime: frozenset({("long", "timestamp-millis"), ("long", "timestamp-micros")}),
    date: frozenset({("int", "date")}),
    UUID: frozenset({("string", "uuid")}),
    Decimal: frozenset({("bytes", "decimal"), ("fixed", "decimal")}),
}


def _describe(avro: Any) -> str:
    return json.dumps(avro) if not isinstance(avro, str) else avro


def _check_type(
    annotation: Any, avro: Any, named: Mapping[str, Any], where: str, origin: str
) -> None:
    if isinstance(avro, str) and avro in named:
        avro = named[avro]
    origin_type = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    def mismatch(detail: str = "") -> TypeError:
        return TypeError(
            f"{where}: type {_type_name(annotation)} does not match {_describe(avro)} in "
            f"{origin}{'; ' + detail if detail else ''}"
        )

    if origin_type is typing.Annotated:
        _check_type(args[0], avro, named, where, origin)
        return
    if origin_type in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1 or len(args) != 2:
            raise TypeError(f"{where}: only `X | None` unions are supported, not {annotation}")
        if not isinstance(avro, list) or len(avro) != 2 or "null" not in avro:
            raise mismatch("an optional field needs a two-branch union with null")
        other = avro[1] if avro[0] == "null" else avro[0]
        _check_type(members[0], other, named, where, origin)
        return
    if isinstance(avro, list):
        raise mismatch("the .avsc field is a union; declare the field as `X | None`")

    avro_type = avro["type"] if isinstance(avro, dict) else avro
    logical = avro.get("logicalType") if isinstance(avro, dict) else None

    if origin_type in (list, tuple, Sequence, typing.Sequence):
        if origin_type is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"{where}: only variable-length tuple[X, ...] is supported")
        if avro_type != "array":
            raise mismatch()
        _check_type(args[0], avro["items"], named, f"{where}[]", origin)
        return
    if origin_type in (dict, Mapping, typing.Mapping):
        if avro_type != "map" or args[0] is not str:
            raise mismatch("maps need str keys")
        _check_type(args[1], avro["values"], named, f"{where}{{}}", origin)
        return
    if origin_type is not None:
        raise TypeError(f"{where}: unsupported annotation {annotation}")

    if annotation in _LOGICAL:
        if (avro_type, logical) not in _LOGICAL[annotation]:
            raise mismatch()
        return
    if logical is not None and annotation in _PRIMITIVES:
        raise mismatch(f"logicalType {logical} needs the matching Python type")
    if annotation in _PRIMITIVES:
        if avro_type not in _PRIMITIVES[annotation]:
            raise mismatch()
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        _check_enum(annotation, avro, where, origin, mismatch)
        return
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if avro_type != "record":
            raise mismatch()
        _check_model(annotation, avro, named, where, origin)
        return
    raise TypeError(f"{where}: unsupported annotation {annotation}")


def _check_enum(
    annotation: type[enum.Enum],
    avro: Any,
    where: str,
    origin: str,
    mismatch: typing.Callable[[str], TypeError],
) -> None:
    if not isinstance(avro, dict) or avro.get("type") != "enum":
        raise mismatch("")
    values = [member.value for member in annotation]
    if not all(isinstance(v, str) for v in values):
        raise TypeError(
            f"{where}: enum {annotation.__qualname__} must have str values (the symbols)"
        )
    if values != list(avro["symbols"]):
        raise TypeError(
            f"{where}: enum {annotation.__qualname__} values {values} differ from the symbols "
            f"{list(avro['symbols'])} in {origin}"
        )


_NO_DEFAULT = object()


def _check_default(info: FieldInfo, avro_field: Mapping[str, Any], where: str, origin: str) -> None:
    avro_default = avro_field.get("default", _NO_DEFAULT)
    if info.is_required():
        if avro_default is not _NO_DEFAULT:
            raise TypeError(
                f"{where}: {origin} gives a default ({json.dumps(avro_default)}) but the class "
                f"field is required"
            )
        return
    if avro_default is _NO_DEFAULT:
        raise TypeError(f"{where}: the class field has a default but {origin} gives none")
    value = info.get_default(call_default_factory=True, validated_data={})
    field_type = avro_field["type"]
    if isinstance(field_type, list) and avro_default is not None and field_type[0] == "null":
        # Avro resolves a union field's default against the union's first branch.
        raise TypeError(f"{where}: a non-null default needs the non-null branch first in {origin}")
    if isinstance(field_type, list) and avro_default is None and field_type[0] != "null":
        raise TypeError(f'{where}: a null default needs "null" as the first branch in {origin}')
    if isinstance(value, datetime | date | Decimal | bytes):
        raise TypeError(f"{where}: defaults of type {type(value).__name__} are not supported")
    as_json = TypeAdapter[Any](
        typing.Any if info.annotation is None else info.annotation
    ).dump_python(value, mode="json")
    if as_json != avro_default:
        raise TypeError(
            f"{where}: default {json.dumps(as_json)} differs from {json.dumps(avro_default)} "
            f"in {origin}"
        )


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or str(annotation)
