"""The export file: JSON Lines, one header, one line per event, one signature trailer.

Every line is canonical JSON (event_store's rules: keys sorted, no whitespace, UTF-8) ended by
"\\n"; the trailer's signature covers the exact bytes of every line before it. Events come in
global-position order; each carries every stored column needed to append it again and to
re-verify its chain (its hash as stored, and the hash of its stream's previous event).

    {"format":"saga-orchestrator-export","format_version":1,"kind":"header",...}
    {"data":{...},"event_type":"SagaStarted","hash":"...","kind":"event",...}
    {"algorithm":"ed25519","kind":"signature","public_key":"<base64>","signature":"<base64>"}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from event_store import RecordedEvent, canonical_json
from orchestrator.archive._heads import StreamHead

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "ExportFormatError",
    "ExportHeader",
    "event_line",
    "header_line",
    "parse_event",
    "parse_header",
    "parse_line",
    "parse_trailer",
    "trailer_line",
]

EXPORT_FORMAT: Final = "saga-orchestrator-export"
EXPORT_FORMAT_VERSION: Final = 1
_TIMESTAMP: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIMESTAMP_PATTERN: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class ExportFormatError(ValueError):
    """A line that is not what the format says it must be."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    exported_at: str
    # What was asked for: {"saga": id} | {"stream_type": t, "since": .., "until": ..} | {}.
    selection: Mapping[str, str | None]
    streams: int
    events: int
    global_position: int
    heads: Sequence[StreamHead]


def timestamp(moment: datetime) -> str:
    """UTC, exactly six fractional digits: the chain's own spelling of recorded_at."""
    return moment.astimezone(UTC).strftime(_TIMESTAMP)


def parse_timestamp(text: object) -> datetime:
    # A pattern and fromisoformat, not strptime: strptime cost more than the hash of the event.
    if not isinstance(text, str) or _TIMESTAMP_PATTERN.fullmatch(text) is None:
        raise ExportFormatError(f"recorded_at {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ExportFormatError(f"recorded_at {text!r} is not a valid instant") from None


def _line(value: Mapping[str, Any]) -> bytes:
    return canonical_json(value).encode("utf-8") + b"\n"


def header_line(header: ExportHeader) -> bytes:
    return _line(
        {
            "kind": "header",
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": header.exported_at,
            "selection": dict(header.selection),
            "streams": header.streams,
            "events": header.events,
            "global_position": header.global_position,
            "heads": {h.stream_id: {"version": h.version, "hash": h.hash} for h in header.heads},
        }
    )


def event_line(event: RecordedEvent, previous_hash: str) -> bytes:
    return _line(
        {
            "kind": "event",
            "position": event.position,
            "stream_id": event.stream_id,
            "stream_type": event.stream_type,
            "version": event.version,
            "event_type": event.event_type,
            "schema_version": event.schema_version,
            "data": event.data,
            "metadata": event.metadata,
            "recorded_at": timestamp(event.recorded_at),
            "hash": event.hash,
            "previous_hash": previous_hash,
        }
    )


def trailer_line(public_key: str, signature: str) -> bytes:
    return _line(
        {
            "kind": "signature",
            "algorithm": "ed25519",
            "digest": "sha512",
            "public_key": public_key,
            "signature": signature,
        }
    )


def parse_line(raw: bytes) -> dict[str, Any]:
    if not raw.endswith(b"\n"):
        raise ExportFormatError("the line does not end with a newline (the file was cut)")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFormatError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ExportFormatError("not a JSON object")
    return value


def _field(line: Mapping[str, Any], name: str, kind: type) -> Any:
    value = line.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ExportFormatError(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def parse_header(line: Mapping[str, Any]) -> ExportHeader:
    if line.get("kind") != "header" or line.get("format") != EXPORT_FORMAT:
        raise ExportFormatError(f"the first line is not a {EXPORT_FORMAT} header")
    if line.get("format_version") != EXPORT_FORMAT_VERSION:
        raise ExportFormatError(
            f"format version {line.get('format_version')!r}; this sagactl reads "
            f"{EXPORT_FORMAT_VERSION}"
        )
    heads_field = _field(line, "heads", dict)
    heads = []
    for stream_id, head in heads_field.items():
        if not isinstance(head, dict):
            raise ExportFormatError(f"the head of {stream_id!r} is not an object")
        heads.append(StreamHead(stream_id, _field(head, "version", int), _field(head, "hash", str)))
    return ExportHeader(
        exported_at=_field(line, "exported_at", str),
        selection=_field(line, "selection", dict),
        streams=_field(line, "streams", int),
        events=_field(line, "events", int),
        global_position=_field(line, "global_position", int),
        heads=heads,
    )


def parse_event(line: Mapping[str, Any]) -> tuple[RecordedEvent, str]:
    """The event of an event line and the previous hash it claims."""
    return (
        RecordedEvent(
            position=_field(line, "position", int),
            stream_id=_field(line, "stream_id", str),
            stream_type=_field(line, "stream_type", str),
            version=_field(line, "version", int),
            event_type=_field(line, "event_type", str),
            schema_version=_field(line, "schema_version", int),
            data=_field(line, "data", dict),
            metadata=_field(line, "metadata", dict),
            recorded_at=parse_timestamp(line.get("recorded_at")),
            hash=_field(line, "hash", str),
        ),
        _field(line, "previous_hash", str),
    )


def parse_trailer(line: Mapping[str, Any]) -> tuple[str, str]:
    """(public key, signature), both base64."""
    if line.get("algorithm") != "ed25519" or line.get("digest") != "sha512":
        raise ExportFormatError("the signature is not ed25519 over sha512")
    return _field(line, "public_key", str), _field(line, "signature", str)
