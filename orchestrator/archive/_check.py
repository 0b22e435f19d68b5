"""Offline verification of an export: format, every chain, the header's promises, the signature.

Reads the file once, line by line, keeping per stream only its last event's facts: memory
grows with the number of streams, not events. The first problem ends the check, named with its
line. Each line is parsed once, under the canonical rules (``_chains.parse``), so its data and
metadata are encoded for the chain by the C encoder alone; no ``RecordedEvent`` is built.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from event_store import RecordedEvent
from orchestrator.archive._chains import (
    ChainState,
    check_link,
    encode_value,
    fast_encode,
    fast_json,
    fast_parse,
    parse,
)
from orchestrator.archive._format import (
    ExportFormatError,
    ExportHeader,
    parse_event,
    parse_header,
    parse_line,
    parse_timestamp,
    parse_trailer,
)
from orchestrator.archive._heads import StreamHead
from orchestrator.archive._keys import fingerprint, raw_public_key
from orchestrator.archive._signing import EXPORT_PURPOSE, signature_holds

__all__ = ["ExportError", "ExportSummary", "read_events", "verify_export"]


class ExportError(Exception):
    """The first thing wrong with an export, and the line it is on (1-based; 0: the file)."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line else reason)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    header: ExportHeader
    streams: int
    events: int
    signer: str  # fingerprint of the public key that verified the signature


def verify_export(lines: Iterable[bytes], public_key: Ed25519PublicKey) -> ExportSummary:
    digest = hashlib.sha512()
    header: ExportHeader | None = None
    streams: dict[str, ChainState] = {}
    events = 0
    last_position = 0
    number = 0
    remaining = iter(lines)
    for number, raw in enumerate(remaining, start=1):
        try:
            line, fast = _parse_line(raw)
        except ExportFormatError as exc:
            raise ExportError(number, str(exc)) from None
        kind = line.get("kind")
        if header is None:
            try:
                header = parse_header(line)
            except ExportFormatError as exc:
                raise ExportError(number, str(exc)) from None
        elif kind == "event":
            row = _event_row(number, line)
            if row[0] <= last_position:
                raise ExportError(
                    number,
                    f"position {row[0]} follows position {last_position}: events are out of order",
                )
            last_position = row[0]
            stream = streams.get(row[1])
            if stream is None:
                stream = streams[row[1]] = ChainState()
            _check_event(number, line, row, stream, fast_encode if fast else encode_value)
            events += 1
        elif kind == "signature":
            # The header's promises first: a removed line is named more precisely by them than
            # by a signature that no longer matches.
            _check_promises(number, header, streams, events)
            signer = _check_signature(number, line, digest.digest(), public_key)
            _check_nothing_follows(remaining, number)
            return ExportSummary(header, len(streams), events, signer)
        else:
            raise ExportError(number, f"unexpected line kind {kind!r}")
        digest.update(raw)
    if header is None:
        raise ExportError(0, "the file is empty")
    raise ExportError(
        number, "no signature trailer: the file was cut short or its last line removed"
    )


def _parse_line(raw: bytes) -> tuple[dict[str, Any], bool]:
    """``parse_line`` under the canonical rules (an integral float read as an integer, NaN
    and infinities refused), and whether orjson read it (then ``fast_encode`` gives the
    canonical JSON of its values, else ``encode_value``)."""
    if not raw.endswith(b"\n"):
        raise ExportFormatError("the line does not end with a newline (the file was cut)")
    try:
        text = raw.decode("utf-8")
        if fast_json(text):
            try:
                value = fast_parse(text)
            except ValueError:
                pass  # not JSON, or an integer orjson does not take: the stdlib says which
            else:
                if isinstance(value, dict):
                    return value, True
        value = parse(text)
    except UnicodeDecodeError as exc:
        raise ExportFormatError(f"not JSON ({exc})") from None
    except ValueError as exc:
        raise ExportFormatError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ExportFormatError("not a JSON object")
    return value, False


_INTEGERS = ("position", "version", "schema_version")
_STRINGS = ("stream_id", "stream_type", "event_type", "hash", "previous_hash")


def _event_row(number: int, line: dict[str, Any]) -> tuple[Any, ...]:
    """The chain check's row of an event line (``parse_event``'s checks, without building a
    ``RecordedEvent``): recorded_at stays the text the chain hashes, once it is valid."""
    for name in _INTEGERS:
        value = line.get(name)
        if type(value) is not int:
            raise ExportError(number, f"field {name!r} is missing or not a int")
    for name in _STRINGS:
        if type(line.get(name)) is not str:
            raise ExportError(number, f"field {name!r} is missing or not a str")
    for name in ("data", "metadata"):
        if type(line.get(name)) is not dict:
            raise ExportError(number, f"field {name!r} is missing or not a dict")
    at = line.get("recorded_at")
    try:
        parse_timestamp(at)
    except ExportFormatError as exc:
        raise ExportError(number, str(exc)) from None
    return (
        line["position"], line["stream_id"], line["stream_type"], line["version"],
        line["event_type"], line["schema_version"], line["data"], line["metadata"], at,
        line["hash"],
    )  # fmt: skip


def _check_event(
    number: int,
    line: dict[str, Any],
    row: tuple[Any, ...],
    stream: ChainState,
    canonical: Callable[[Any], str],
) -> None:
    claimed_previous = line["previous_hash"]
    previous = stream.hash  # the genesis hash before the stream's first event
    broken = check_link(stream, row, row[6], row[7], canonical)
    if broken is not None:
        raise ExportError(number, f"stream {row[1]} version {row[3]}: {broken.reason}")
    if claimed_previous != previous:
        raise ExportError(
            number,
            f"stream {row[1]} version {row[3]}: previous_hash is not the hash "
            "of the stream's previous event",
        )


def _check_signature(
    number: int, line: dict[str, Any], digest: bytes, public_key: Ed25519PublicKey
) -> str:
    try:
        signer, signature = parse_trailer(line)
    except ExportFormatError as exc:
        raise ExportError(number, str(exc)) from None
    expected = raw_public_key(public_key)
    try:
        claimed = base64.b64decode(signer, validate=True)
    except binascii.Error:
        claimed = b""
    if claimed != expected:
        named = (
            fingerprint(Ed25519PublicKey.from_public_bytes(claimed))
            if len(claimed) == len(expected)
            else repr(signer[:20])
        )
        raise ExportError(
            number,
            f"signed by key {named}, not by the given public key {fingerprint(public_key)}",
        )
    if not signature_holds(public_key, EXPORT_PURPOSE, digest, signature):
        raise ExportError(
            number,
            "the signature does not match the content: a line before it was changed, "
            "added or removed",
        )
    return fingerprint(public_key)


def _check_promises(
    number: int, header: ExportHeader, streams: dict[str, ChainState], events: int
) -> None:
    if (header.streams, header.events) != (len(streams), events):
        raise ExportError(
            number,
            f"the header promises {header.streams} stream(s) and {header.events} event(s); "
            f"the file holds {len(streams)} and {events}",
        )
    promised = {head.stream_id: head for head in header.heads}
    for stream_id in sorted(promised.keys() | streams.keys()):
        head = promised.get(stream_id)
        last = streams.get(stream_id)
        found = None if last is None else StreamHead(stream_id, last.version, last.hash)
        if head != found:
            raise ExportError(
                number,
                f"stream {stream_id}: the header's head is {_name(head)}, the file's is "
                f"{_name(found)}",
            )


def _name(head: StreamHead | None) -> str:
    return "absent" if head is None else f"version {head.version} hash {head.hash[:12]}"


def _check_nothing_follows(remaining: Iterator[bytes], number: int) -> None:
    for _ in remaining:
        raise ExportError(number + 1, "lines after the signature trailer are not signed")


def read_events(lines: Iterable[bytes]) -> Iterator[RecordedEvent]:
    """The events of an export already verified, in file order."""
    for raw in lines:
        line = parse_line(raw)
        if line.get("kind") == "event":
            yield parse_event(line)[0]
