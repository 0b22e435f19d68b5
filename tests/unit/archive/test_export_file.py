"""The export file alone: written, verified offline, and refused for each kind of tampering."""

from __future__ import annotations

import base64
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from event_store import InMemoryEventStore, NewEvent, RecordedEvent
from orchestrator.archive import (
    ExportError,
    ExportHeader,
    ExportWriter,
    StreamHead,
    fingerprint,
    read_events,
    verify_export,
)

KEY = Ed25519PrivateKey.generate()


def recorded() -> list[RecordedEvent]:
    store = InMemoryEventStore()
    for stream in ("s-1", "s-2"):
        store.append(stream, "order", 0, [NewEvent("E", {"n": 1, "x": 1.5, "é": "ü"})])
    store.append("s-1", "order", 1, [NewEvent("E", {"n": 2}, metadata={"actor": "sre"})])
    store.append("s-2", "order", 1, [NewEvent("F", {"nested": {"b": [1, 2], "a": None}})])
    store.append("s-1", "order", 2, [NewEvent("E", {"n": 3})])
    return store.read_all()


def export(events: list[RecordedEvent], key: Ed25519PrivateKey = KEY) -> list[bytes]:
    heads: dict[str, StreamHead] = {}
    for event in events:
        heads[event.stream_id] = StreamHead(event.stream_id, event.version, event.hash)
    out = io.BytesIO()
    writer = ExportWriter(out, key)
    writer.begin(
        ExportHeader(
            exported_at="2026-12-01T00:00:00.000000Z",
            selection={},
            streams=len(heads),
            events=len(events),
            global_position=max(e.position for e in events),
            heads=list(heads.values()),
        )
    )
    for event in events:
        writer.event(event)
    writer.finish()
    return out.getvalue().splitlines(keepends=True)


def problem(lines: list[bytes]) -> ExportError:
    with pytest.raises(ExportError) as caught:
        verify_export(lines, KEY.public_key())
    return caught.value


def test_an_export_as_written_verifies_and_gives_back_every_event() -> None:
    events = recorded()
    lines = export(events)
    summary = verify_export(lines, KEY.public_key())
    assert (summary.streams, summary.events) == (2, 5)
    assert summary.signer == fingerprint(KEY.public_key())
    assert list(read_events(lines)) == events
    # header, five events, trailer; each line canonical JSON of an object
    assert [json.loads(line)["kind"] for line in lines] == ["header"] + ["event"] * 5 + [
        "signature"
    ]


def test_one_byte_changed_in_an_event_names_its_stream_and_version() -> None:
    lines = export(recorded())
    lines[3] = lines[3].replace(b'"n":2', b'"n":3')
    found = problem(lines)
    assert found.line == 4
    assert "stream s-1 version 2: hash mismatch" in str(found)


def test_a_removed_event_line_in_the_middle_is_a_missing_version() -> None:
    lines = export(recorded())
    del lines[3]  # s-1 version 2
    found = problem(lines)
    assert "stream s-1 version 3: version 2 is missing" in found.reason


def test_a_removed_last_event_breaks_the_header_promises() -> None:
    lines = export(recorded())
    del lines[5]  # s-1 version 3, the newest event of its stream
    assert "the header promises 2 stream(s) and 5 event(s); the file holds 2 and 4" in str(
        problem(lines)
    )


def test_a_removed_trailer_says_the_file_was_cut() -> None:
    assert "no signature trailer" in problem(export(recorded())[:-1]).reason


def test_a_file_cut_mid_line() -> None:
    lines = export(recorded())
    lines[-1] = lines[-1][:-5]
    assert "does not end with a newline" in problem(lines).reason


def test_the_signature_of_another_key_names_both_keys() -> None:
    other = Ed25519PrivateKey.generate()
    found = problem(export(recorded(), other))
    assert found.reason == (
        f"signed by key {fingerprint(other.public_key())}, not by the given public key "
        f"{fingerprint(KEY.public_key())}"
    )


def test_a_trailer_claiming_our_key_over_changed_content_fails_the_signature() -> None:
    lines = export(recorded())
    header = json.loads(lines[0])
    header["exported_at"] = "2027-01-01T00:00:00.000000Z"
    lines[0] = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert "the signature does not match the content" in problem(lines).reason


def test_a_rewritten_chain_with_a_matching_header_fails_the_signature() -> None:
    # The attacker recomputes the hashes and the header's heads; only the signature catches it.
    events = recorded()
    forged = export(events, Ed25519PrivateKey.generate())
    trailer = json.loads(forged[-1])
    trailer["public_key"] = base64.b64encode(KEY.public_key().public_bytes_raw()).decode()
    forged[-1] = json.dumps(trailer, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert "the signature does not match the content" in problem(forged).reason


def test_lines_after_the_trailer_are_refused() -> None:
    lines = export(recorded())
    found = problem([*lines, lines[1]])
    assert (found.line, found.reason) == (
        len(lines) + 1,
        "lines after the signature trailer are not signed",
    )


def test_an_empty_file_and_a_foreign_first_line() -> None:
    assert problem([]).reason == "the file is empty"
    assert "is not a saga-orchestrator-export header" in problem([b'{"kind":"event"}\n']).reason
