"""Hash chains recomputed fast, from the text of each event's columns.

The same check as ``event_store.verify.StreamChecker`` (same canonical bytes, same findings,
same reasons), without what made it cost ~100 µs an event: a ``RecordedEvent`` built per row,
its data and metadata parsed into Python values and then normalised node by node in Python
before being encoded again, and ``strftime`` for every recorded time. Here:

- data and metadata arrive as JSON text (jsonb's ``::text``, or an export line's values) and
  are parsed by the C decoder with hooks that apply the canonical rules while parsing (an
  integral float becomes an integer, NaN and infinities are refused), so the C encoder's
  output (keys sorted, no whitespace, UTF-8 kept) IS ``canonical_json``: no Python walk;
- the recorded time arrives already spelt the chain's way (``YYYY-MM-DDTHH:MM:SS.ffffffZ``:
  PostgreSQL's ``to_char`` in the store's scan, the export's own field in a file);
- a stream's state is a slotted object with the previous event's version, position, type and
  hash, nothing else;
- JSON without a fraction or an exponent anywhere (nearly every saga event) is parsed and
  re-encoded by orjson instead, five times faster: for such JSON its output with sorted keys is
  byte for byte canonical_json (keys in code-point order, which UTF-8 byte order is; the same
  escapes; integers as digits). A number with a fraction or exponent goes the stdlib's way,
  whose float spelling (``repr``) is the canonical one and orjson's is not (``1e-07``).

``tests/unit/archive/test_chains.py`` pins the bytes and the verdicts to event_store's.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from event_store import GENESIS_HASH, ChainBreak

__all__ = [
    "ChainState",
    "Row",
    "canonical_text",
    "check_link",
    "encode_value",
    "event_bytes",
    "fast_encode",
    "fast_json",
    "fast_parse",
    "parse",
]


def _float(text: str) -> float | int:
    # The canonical rules for a number written with a fraction or exponent (normalise_json).
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a JSON number the chain can hold")
    return int(value) if value.is_integer() else value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER: Final = json.JSONDecoder(parse_float=_float, parse_constant=_constant)
_raw_decode: Final = _DECODER.raw_decode
# event_store._canonical's encoder, option for option.
_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
encode_value: Final[Callable[[Any], str]] = _ENCODER.encode
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring


def parse(text: str) -> Any:
    """JSON text parsed under the canonical rules (what ``canonical_json`` would normalise)."""
    value, end = _raw_decode(text)
    if end != len(text) and text[end:].strip():
        raise ValueError(f"extra data after the JSON value at {end}")
    return value


# Where a number with a fraction or exponent, or of 19 digits or more, could start: after a
# key's closing quote and colon, a comma or a bracket (jsonb writes ": " and ", ", canonical
# JSON ":" and ","). orjson reads an integer beyond 64 bits as a float (1.8446744073709552e+19),
# silently; the stdlib keeps it exact. A match inside a string only sends that text the slow
# way; a time inside a string ("T09:44.845") does not match: its colon follows no quote.
_FLOAT_TOKEN: Final = re.compile(r'(?:":|,|\[)\s*-?(?:\d+[.eE]|\d{19})')
_SORTED: Final = orjson.OPT_SORT_KEYS


def fast_json(text: str | bytes) -> bool:
    """Whether orjson may parse and encode this JSON text into canonical JSON: it holds no
    number with a fraction or exponent, and no integer orjson would not keep exact. (A bare
    number, not in an object or array, is never a saga event's data: it goes the slow way.)"""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text[:1] in ("{", "[") and _FLOAT_TOKEN.search(text) is None


def fast_parse(text: str | bytes) -> Any:
    """orjson's parse of JSON ``fast_json`` accepted; ValueError (orjson's error) if it is not
    JSON, or holds an integer beyond 64 bits (then the caller takes the stdlib's way)."""
    return orjson.loads(text)


def fast_encode(value: Any) -> str:
    """canonical_json of a value ``fast_parse`` returned."""
    return orjson.dumps(value, option=_SORTED).decode("utf-8")


def canonical_text(json_text: str) -> str:
    """``canonical_json`` of the value ``json_text`` holds; ValueError when it cannot be."""
    if fast_json(json_text):
        try:
            return fast_encode(fast_parse(json_text))
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass  # not JSON, or an integer orjson does not take: the stdlib says which
    return encode_value(parse(json_text))


def event_bytes(
    *,
    stream_id: str,
    stream_type: str,
    version: int,
    event_type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    recorded_at: str,
) -> bytes:
    """The canonical bytes of an event (event_store/_canonical.py, the on-disk format), from
    its data and metadata in canonical JSON and its time in the chain's spelling."""
    return (
        f'{{"data":{data_json},"event_type":{_string(event_type)},"metadata":{metadata_json},'
        f'"recorded_at":"{recorded_at}","schema_version":{schema_version},'
        f'"stream_id":{_string(stream_id)},"stream_type":{_string(stream_type)},'
        f'"version":{version}}}'
    ).encode()


_GENESIS: Final = bytes.fromhex(GENESIS_HASH)


class ChainState:
    """What a stream's next event is checked against: its predecessor's facts."""

    __slots__ = ("break_", "events", "hash", "position", "stream_type", "version")

    def __init__(self) -> None:
        self.version = 0
        self.position = 0
        self.stream_type: str | None = None
        self.hash = GENESIS_HASH
        self.events = 0
        self.break_: ChainBreak | None = None


# (position, stream_id, stream_type, version, event_type, schema_version, data, metadata,
#  recorded_at, hash): an event's columns as the store's scan gives them, data and metadata as
# JSON text and recorded_at in the chain's spelling.
Row = tuple[Any, ...]


def check_link(
    state: ChainState,
    row: Row,
    data: Any = None,
    metadata: Any = None,
    canonical: Callable[[Any], str] = canonical_text,
) -> ChainBreak | None:
    """Check one event (fed in version order) and move ``state`` on; the stream's first break
    is kept in ``state.break_`` (later events of a broken stream prove nothing more).

    ``canonical`` turns data and metadata into canonical JSON: by default the row's JSON text;
    given ``data`` and ``metadata`` (values ``parse`` returned), ``encode_value`` of those."""
    state.events += 1
    if state.break_ is not None:
        return None
    reason = _reason(
        state,
        row,
        row[6] if data is None else data,
        row[7] if metadata is None else metadata,
        canonical,
    )
    position, stream_id, stream_type, version = row[0], row[1], row[2], row[3]
    state.version, state.position, state.stream_type, state.hash = (
        version,
        position,
        stream_type,
        row[9],
    )
    if reason is None:
        return None
    state.break_ = ChainBreak(stream_id, version, position, reason)
    return state.break_


def _reason(
    state: ChainState, row: Row, data: Any, metadata: Any, canonical: Callable[[Any], str]
) -> str | None:
    # The reasons are StreamChecker's, word for word: findings read the same whichever
    # checker produced them.
    position, stream_id, stream_type, version, event_type, schema_version = row[:6]
    first = state.stream_type is None
    wanted = state.version + 1
    if version != wanted:
        return f"version {wanted} is missing (found version {version} next): an event was removed"
    if not first and stream_type != state.stream_type:
        return f"stream type changed from {state.stream_type!r} to {stream_type!r}"
    if not first and position <= state.position:
        return (
            f"position {position} is not after version {state.version}'s position "
            f"{state.position}: events were reordered"
        )
    try:
        content = event_bytes(
            stream_id=stream_id,
            stream_type=stream_type,
            version=version,
            event_type=event_type,
            schema_version=schema_version,
            data_json=canonical(data),
            metadata_json=canonical(metadata),
            recorded_at=row[8],
        )
    except (TypeError, ValueError) as exc:
        return f"content cannot be canonicalised ({exc}): it was altered"
    digest = hashlib.sha256(_GENESIS if first else bytes.fromhex(state.hash))
    digest.update(content)
    if digest.hexdigest() != row[9]:
        return (
            "hash mismatch: the event's content, or an event before it, was altered, "
            "removed or reordered"
        )
    return None
