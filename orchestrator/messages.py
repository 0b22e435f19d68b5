"""Base class of every message that travels on Kafka (commands, replies, start commands).

Each subclass names the Avro record it corresponds to; the `.avsc` under `schemas/` is the
contract shared with services in other languages, and the single source of truth. A subclass
is bound to its `.avsc` when the class is created: any drift between the pydantic fields and the
Avro record (names, types, optionality, defaults, enum symbols, nested records, arrays, maps,
logical types) raises a TypeError naming the class and the field, so drift never reaches Kafka.

Schema files are found by the Avro full name of their top-level record, in every `*.avsc` under
the `schemas` package plus any directory given to `register_schema_dir` (tests use this). Each
file must be self-contained: named types it uses are defined inline, once, in the same file, so
the exact text registered with a schema registry is all a reader in another language needs.

Supported Python types and the Avro they bind to:
    str -> string              int -> int | long          float -> float | double
    bool -> boolean            bytes -> bytes             X | None -> ["null", X] (or [X, "null"])
    list[X], tuple[X, ...] -> array          dict[str, X] -> map
    a str-valued Enum -> enum (symbols = the members' values, same order)
    a pydantic BaseModel -> record (checked field by field)
    datetime -> long timestamp-millis | timestamp-micros      date -> int date
    UUID -> string uuid        Decimal -> bytes | fixed decimal

This module imports no Kafka or database client: the pure decider depends on it.
"""

from __future__ import annotations

import enum
import importlib.resources
import json
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Self
from uuid import UUID

import fastavro
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.fields import FieldInfo

__all__ = [
    "AvroSchemaFile",
    "Message",
    "load_schema_dir",
    "message_class",
    "register_schema_dir",
    "schema_files",
]

SCHEMA_PACKAGE = "schemas"


@dataclass(frozen=True, slots=True)
class AvroSchemaFile:
    """One `.avsc` file: its top-level record's full name and the schema text to register."""

    full_name: str
    origin: str  # path, for error messages
    schema: Mapping[str, Any]  # the JSON as written
    # Compact JSON in the file's own key order: what serializers register, so the registered
    # text does not depend on the file's whitespace.
    schema_str: str


# --- the schema index --------------------------------------------------------------------------


class _SchemaIndex:
    """Avro full name -> schema file, over the package's schemas and the registered directories.

    Built lazily on the first lookup, so importing this module reads no files.
    """

    def __init__(self) -> None:
        self.extra_dirs: list[Path] = []
        self._by_name: dict[str, AvroSchemaFile] | None = None

    def add_dir(self, path: Path) -> None:
        resolved = path.resolve()
        if resolved not in self.extra_dirs:
            self.extra_dirs.append(resolved)
            self._by_name = None

    def by_name(self) -> dict[str, AvroSchemaFile]:
        if self._by_name is None:
            roots = [importlib.resources.files(SCHEMA_PACKAGE), *self.extra_dirs]
            index: dict[str, AvroSchemaFile] = {}
            for root in roots:
                for schema_file in load_schema_dir(root):
                    earlier = index.get(schema_file.full_name)
                    if earlier is not None and earlier.schema != schema_file.schema:
                        raise TypeError(
                            f"Avro record {schema_file.full_name} is defined differently in "
                            f"{earlier.origin} and {schema_file.origin}"
                        )
                    index[schema_file.full_name] = schema_file
            self._by_name = index
        return self._by_name


_INDEX = _SchemaIndex()


def register_schema_dir(path: Path) -> None:
    """Add a directory of `.avsc` files to the index (before defining classes bound to them)."""
    _INDEX.add_dir(path)


def load_schema_dir(path: Path | Traversable) -> list[AvroSchemaFile]:
    """Every `.avsc` under `path` (recursively), sorted by path."""
    return [_read_schema_file(f) for f in sorted(_avsc_files(path), key=str)]


def schema_files() -> list[AvroSchemaFile]:
    """Every indexed schema file: the `schemas` package and the registered directories."""
    return sorted(_INDEX.by_name().values(), key=lambda f: f.full_name)


def _avsc_files(root: Path | Traversable) -> Iterator[Path | Traversable]:
    for entry in root.iterdir():
        if entry.is_dir():
            yield from _avsc_files(entry)
        elif entry.name.endswith(".avsc"):
            yield entry


def _read_schema_file(entry: Path | Traversable) -> AvroSchemaFile:
    try:
        schema = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TypeError(f"{entry}: not a readable JSON schema file: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record" or "name" not in schema:
        raise TypeError(f"{entry}: the top level of a message schema must be a named record")
    name = str(schema["name"])
    namespace = schema.get("namespace")
    full_name = name if "." in name or not namespace else f"{namespace}.{name}"
    return AvroSchemaFile(
        full_name=full_name,
        origin=str(entry),
        schema=schema,
        schema_str=json.dumps(schema, separators=(",", ":"), ensure_ascii=False),
    )


def _schema_file_for(avro_name: str) -> AvroSchemaFile:
    try:
        return _INDEX.by_name()[avro_name]
    except KeyError:
        raise LookupError(f"no .avsc file defines the Avro record {avro_name!r}") from None


# --- the message base class --------------------------------------------------------------------

_BY_AVRO_NAME: dict[str, type[Message]] = {}


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    avro_name: ClassVar[str]
    avro_schema: ClassVar[AvroSchemaFile]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The class keywords (avro_name) are consumed by __pydantic_init_subclass__, which
        # pydantic calls once the fields exist; object.__init_subclass__ accepts none.
        super().__init_subclass__()

    @classmethod
    def __pydantic_init_subclass__(cls, avro_name: str | None = None, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if avro_name is None:
            raise TypeError(f"{cls.__qualname__}: a Message subclass must name its Avro record")
        try:
            schema_file = _schema_file_for(avro_name)
        except LookupError as exc:
            raise TypeError(f"{cls.__qualname__}: {exc}") from None
        _check_binding(cls, schema_file)
        earlier = _BY_AVRO_NAME.get(avro_name)
        if earlier is not None and _qualified(earlier) != _qualified(cls):
            raise TypeError(
                f"{cls.__qualname__}: Avro record {avro_name} is already bound to "
                f"{_qualified(earlier)}"
            )
        cls.avro_name = avro_name
        cls.avro_schema = schema_file
        _BY_AVRO_NAME[avro_name] = cls

    def to_avro_dict(self) -> dict[str, Any]:
        """The record as fastavro writes it (the serializer's `to_dict` hook).

        Python mode keeps datetimes, UUIDs, Decimals and str-valued enum members, which
        fastavro encodes natively through the logical types the binding checked.
        """
        return self.model_dump(mode="python")

    @classmethod
    def from_avro_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate a record read with this class's schema (the deserializer's `from_dict`)."""
        return cls.model_validate(data)


def message_class(avro_name: str) -> type[Message]:
    try:
        return _BY_AVRO_NAME[avro_name]
    except KeyError:
        raise LookupError(f"no Message class is registered for Avro record {avro_name!r}") from None


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --- drift check -------------------------------------------------------------------------------


def _check_binding(cls: type[Message], schema_file: AvroSchemaFile) -> None:
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
