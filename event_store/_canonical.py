"""Canonical bytes of an event and the per-stream hash chain.

ON-DISK FORMAT, NEVER CHANGE IT. Every stored event carries
``hash = sha256(previous event's hash as 32 raw bytes + canonical bytes of this event)``, hex
encoded; the first event of a stream uses 32 zero bytes as its previous hash. The canonical bytes
are the UTF-8 encoding of this JSON object, keys sorted, no whitespace, non-ASCII kept as is::

    {"data":…,"event_type":…,"metadata":…,"recorded_at":"2026-01-31T12:00:00.000001Z",
     "schema_version":1,"stream_id":…,"stream_type":…,"version":1}

with these rules inside ``data`` and ``metadata``: object keys are strings, sorted by code point;
a float with an integral value is written as an integer (``1.0`` -> ``1``) because PostgreSQL's
jsonb does not keep that distinction and the chain must survive the round trip; other floats use
Python's shortest round-trip ``repr``; NaN and infinities are refused. ``recorded_at`` is UTC
with exactly six fractional digits (PostgreSQL's resolution). Changing any of this makes every
stored chain fail ``verify``: a new format would need a new column, never an edit here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


def normalise_json(value: Any) -> Any:
    """Return `value` as the JSON data the store keeps, or raise TypeError/ValueError.

    Refuses what JSON (or jsonb) cannot hold faithfully: non-string keys (json would stringify
    them and change their sort order), NaN and infinities, and any non-JSON type.
    """
    # Exact-type checks first: this runs for every node of every payload on the append path.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        for key in value:
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__} {key!r}")
        return {key: normalise_json(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [normalise_json(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number")
        return int(value) if value.is_integer() else float(value)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Mapping):
        return normalise_json(dict(value))
    if isinstance(value, list | tuple):
        return normalise_json(list(value))
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


# Built once: json.dumps with non-default options constructs a new encoder on every call,
# which on the append path cost as much as the encoding itself.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def canonical_json(value: Any) -> str:
    """The canonical JSON text of `value` (see the module docstring)."""
    return _ENCODER.encode(normalise_json(value))


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("recorded_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_string(text: str) -> str:
    return _encode_string(text)


class StreamCanon:
    """Canonical bytes of events of one stream recorded at one moment.

    The parts shared by those events are encoded once; the text is assembled by hand, keys in
    sorted order, so the payload (already canonical JSON for storage) is not serialised again.
    `tests/unit/event_store` pins that the result equals `canonical_json` of the whole object.
    """

    __slots__ = ("_identity", "_recorded_at")

    def __init__(self, stream_id: str, stream_type: str, recorded_at: datetime) -> None:
        self._recorded_at = f',"recorded_at":"{format_timestamp(recorded_at)}","schema_version":'
        self._identity = (
            f',"stream_id":{_json_string(stream_id)},'
            f'"stream_type":{_json_string(stream_type)},"version":'
        )

    def event_bytes(
        self,
        *,
        version: int,
        event_type: str,
        schema_version: int,
        data_json: str,
        metadata_json: str,
    ) -> bytes:
        text = (
            f'{{"data":{data_json},"event_type":{_json_string(event_type)},'
            f'"metadata":{metadata_json}{self._recorded_at}{int(schema_version)}'
            f"{self._identity}{int(version)}}}"
        )
        return text.encode("utf-8")


def canonical_event_bytes(
    *,
    stream_id: str,
    stream_type: str,
    version: int,
    event_type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    recorded_at: datetime,
) -> bytes:
    """The canonical bytes of one event, from data and metadata already in canonical JSON."""
    return StreamCanon(stream_id, stream_type, recorded_at).event_bytes(
        version=version,
        event_type=event_type,
        schema_version=schema_version,
        data_json=data_json,
        metadata_json=metadata_json,
    )


def chain_hash(previous_hash: str, canonical_bytes: bytes) -> str:
    digest = hashlib.sha256(bytes.fromhex(previous_hash))
    digest.update(canonical_bytes)
    return digest.hexdigest()
