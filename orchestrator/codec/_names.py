"""The full name of the record a registered schema text defines."""

from __future__ import annotations

import json

__all__ = ["record_full_name"]


def record_full_name(schema_str: str | None, schema_type: str | None = "AVRO") -> str | None:
    """`namespace.Name` of a top-level Avro record schema; None for anything else."""
    if (schema_type or "AVRO") != "AVRO" or schema_str is None:
        return None
    try:
        schema = json.loads(schema_str)
    except ValueError:
        return None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    name = str(schema.get("name", ""))
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"
