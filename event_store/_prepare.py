"""Validation of appends, shared by every store so both refuse the same input the same way.

Everything here runs before a store touches its storage: an append that fails any check raises
`InvalidEventError` (or `PayloadTooLargeError`) and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from event_store._canonical import StreamCanon, canonical_json, chain_hash
from event_store._model import (
    STREAM_ID_PATTERN,
    InvalidEventError,
    NewEvent,
    PayloadTooLargeError,
    StreamAppend,
)

MESSAGE_ID_KEY = "message_id"
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    event_type: str
    schema_version: int
    data_json: str
    metadata_json: str


@dataclass(frozen=True, slots=True)
class PreparedAppend:
    stream_id: str
    stream_type: str
    expected_version: int
    message_id: str | None
    events: tuple[PreparedEvent, ...]

    def sealed(
        self, previous_hash: str, recorded_at: datetime
    ) -> list[tuple[int, PreparedEvent, str]]:
        """(version, event, hash) for each event, chained from the stream's current head."""
        canon = StreamCanon(self.stream_id, self.stream_type, recorded_at)
        rows = []
        version = self.expected_version
        for event in self.events:
            version += 1
            canonical = canon.event_bytes(
                version=version,
                event_type=event.event_type,
                schema_version=event.schema_version,
                data_json=event.data_json,
                metadata_json=event.metadata_json,
            )
            previous_hash = chain_hash(previous_hash, canonical)
            rows.append((version, event, previous_hash))
        return rows


def validate_stream_id(stream_id: object) -> str:
    if not isinstance(stream_id, str) or not STREAM_ID_PATTERN.fullmatch(stream_id):
        raise InvalidEventError(
            f"invalid stream id {stream_id!r}: use 1-200 characters from A-Z a-z 0-9 . _ : @ -, "
            "starting with a letter or digit"
        )
    return stream_id


def _validate_name(what: str, value: object, where: Callable[[], str]) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise InvalidEventError(
            f"{where()}: {what} must be a non-empty string of at most {MAX_NAME_LENGTH} "
            f"characters, got {value!r}"
        )
    if "\x00" in value:
        raise InvalidEventError(f"{where()}: {what} contains a NUL character")
    return value


def _to_json(what: str, value: object, where: Callable[[], str]) -> tuple[str, int]:
    """Canonical JSON text of a payload object, and its size in bytes as stored."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidEventError(
            f"{where()}: {what} must be a JSON object, got {type(value).__name__}"
        )
    try:
        text = canonical_json(value)
        size = len(text.encode("utf-8"))  # also refuses lone surrogates, which cannot be stored
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise InvalidEventError(f"{where()}: {what} is not JSON-serialisable: {exc}") from None
    # jsonb cannot store U+0000 in a string; refusing here keeps the failure typed and early.
    if "\\u0000" in text:
        raise InvalidEventError(f"{where()}: {what} contains a NUL character (\\u0000)")
    return text, size


def _prepare_event(
    event: NewEvent,
    index: int,
    message_id: str | None,
    stream_id: str,
    max_payload_bytes: int,
    *,
    metadata_texts: dict[tuple[tuple[str, Any], ...], tuple[str, int]],
) -> PreparedEvent:
    # Built only for an error message: this runs for every event on the append path.
    def where() -> str:
        return f"stream {stream_id!r}, event {index}"

    if not isinstance(event, NewEvent):
        raise InvalidEventError(f"{where()}: expected a NewEvent, got {type(event).__name__}")
    event_type = _validate_name("event_type", event.event_type, where)
    schema_version = event.schema_version
    if type(schema_version) is not int or schema_version < 1:
        raise InvalidEventError(
            f"{where()}: schema_version must be an integer >= 1, got {schema_version!r}"
        )
    raw_metadata = event.metadata
    if type(raw_metadata) is not dict and not isinstance(raw_metadata, Mapping):
        raise InvalidEventError(
            f"{where()}: metadata must be a JSON object, got {type(raw_metadata).__name__}"
        )
    metadata: dict[str, Any] = dict(raw_metadata)
    recorded_id = metadata.get(MESSAGE_ID_KEY)
    if recorded_id is not None and recorded_id != message_id:
        raise InvalidEventError(
            f"{where()}: metadata[{MESSAGE_ID_KEY!r}] is {recorded_id!r} but the append's "
            f"message_id is {message_id!r}; pass the idempotency key as message_id"
        )
    if message_id is not None:
        metadata[MESSAGE_ID_KEY] = message_id
    data_json, data_size = _to_json("data", event.data, where)
    # The events of one decision carry the same metadata (its causation and correlation):
    # encoded once per append. Only flat metadata of strings is shared; anything else is
    # encoded (and checked) on its own.
    key = tuple(metadata.items())
    if all(type(value) is str for _, value in key):
        known = metadata_texts.get(key)
        if known is None:
            known = metadata_texts[key] = _to_json("metadata", metadata, where)
        metadata_json, metadata_size = known
    else:
        metadata_json, metadata_size = _to_json("metadata", metadata, where)
    size = data_size + metadata_size
    if size > max_payload_bytes:
        raise PayloadTooLargeError(
            f"{where()}: payload is {size} bytes (data + metadata as JSON), over the limit of "
            f"{max_payload_bytes} bytes"
        )
    return PreparedEvent(event_type, schema_version, data_json, metadata_json)


def prepare_append(append: StreamAppend, max_payload_bytes: int) -> PreparedAppend:
    stream_id = validate_stream_id(append.stream_id)

    def where() -> str:
        return f"stream {stream_id!r}"

    stream_type = _validate_name("stream_type", append.stream_type, where)
    expected = append.expected_version
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise InvalidEventError(f"{where()}: expected_version must be an integer >= 0")
    message_id = append.message_id
    if message_id is not None:
        _validate_name("message_id", message_id, where)
    events: Sequence[NewEvent] = append.events
    if isinstance(events, str | bytes) or not isinstance(events, Sequence):
        raise InvalidEventError(f"{where()}: events must be a sequence of NewEvent")
    if not events:
        raise InvalidEventError(f"{where()}: the event list is empty; an append needs 1+ events")
    metadata_texts: dict[tuple[tuple[str, Any], ...], tuple[str, int]] = {}
    prepared = tuple(
        _prepare_event(
            event, index, message_id, stream_id, max_payload_bytes, metadata_texts=metadata_texts
        )
        for index, event in enumerate(events)
    )
    return PreparedAppend(stream_id, stream_type, expected, message_id, prepared)


def prepare_batch(appends: Sequence[StreamAppend], max_payload_bytes: int) -> list[PreparedAppend]:
    """Validate a whole batch up front; one bad append refuses the batch, nothing is written."""
    prepared = [prepare_append(append, max_payload_bytes) for append in appends]
    seen: set[str] = set()
    for item in prepared:
        if item.stream_id in seen:
            raise InvalidEventError(
                f"stream {item.stream_id!r} appears twice in one batch; results are reported "
                "per stream, so merge its events into one StreamAppend"
            )
        seen.add(item.stream_id)
    return prepared
