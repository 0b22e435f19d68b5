"""Base class of every message that travels on Kafka (commands, replies, start commands).

Each subclass names the Avro record it corresponds to, and is the message's one source: its
Avro schema is generated from the class when the class is created (``_schema``: the class
docstring is the record's doc, each field's docstring the field's, ``Long`` an Avro long), and
the `.avsc` files services in other languages code against are written from those schemas
(``orchestrator.saga.write_schemas``; a test fails when a checked-in file is stale).

A class may instead be bound to a hand-written `.avsc` (a contract another team owns): a file
in a directory given to ``register_schema_dir`` that defines its record. Then any drift between
the class and the file (names, types, optionality, defaults, enum symbols, nested records,
arrays, maps, logical types) raises a TypeError naming the class and the field when the class
is created (``_binding``), so drift never reaches Kafka. Each such file must be self-contained:
named types it uses are defined inline, once, so the exact text registered with a schema
registry is all a reader in another language needs.

This module imports no Kafka or database client: the pure decider depends on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from orchestrator.messages._binding import check_binding
from orchestrator.messages._schema import Long, record_schema, schema_text

__all__ = [
    "AvroSchemaFile",
    "Long",
    "Message",
    "load_schema_dir",
    "message_class",
    "register_schema_dir",
    "schema_files",
    "schema_text",
]


@dataclass(frozen=True, slots=True)
class AvroSchemaFile:
    """One `.avsc` file: its top-level record's full name and the schema text to register."""

    full_name: str
    origin: str  # path, for error messages
    schema: Mapping[str, Any]  # the JSON as written
    # Compact JSON in the file's own key order: what serializers register, so the registered
    # text does not depend on the file's whitespace.
    schema_str: str
    # Generated from its Message class (the class is the source), not read from a file.
    generated: bool = False


# --- the schema index --------------------------------------------------------------------------


class _SchemaIndex:
    """Avro full name -> hand-written schema file, over the registered directories.

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
            index: dict[str, AvroSchemaFile] = {}
            for root in self.extra_dirs:
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
    """The schema of every Message class created so far (generated or hand-written)."""
    return sorted((c.avro_schema for c in _BY_AVRO_NAME.values()), key=lambda f: f.full_name)


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


def _schema_file_for(cls: type[BaseModel], avro_name: str) -> AvroSchemaFile:
    """The hand-written file that defines ``avro_name``, else the schema generated from
    ``cls``."""
    written = _INDEX.by_name().get(avro_name)
    if written is not None:
        return written
    schema = record_schema(cls, avro_name)
    return AvroSchemaFile(
        full_name=avro_name,
        origin=f"{cls.__module__}.{cls.__qualname__}",
        schema=schema,
        schema_str=json.dumps(schema, separators=(",", ":"), ensure_ascii=False),
        generated=True,
    )


# --- the message base class --------------------------------------------------------------------

_BY_AVRO_NAME: dict[str, type[Message]] = {}


class Message(BaseModel):
    # Field docstrings are the Avro fields' docs.
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

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
        schema_file = _schema_file_for(cls, avro_name)
        # A generated schema passes by construction; checking it anyway keeps the generator
        # and the checker from ever disagreeing about what a Python type means in Avro.
        check_binding(cls, schema_file)
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
