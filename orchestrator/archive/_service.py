"""Exports, imports and anchors end to end: what `sagactl` and the worker's leader call."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from event_store.verify import VerifyReport
from orchestrator.archive import _kafka, _postgres
from orchestrator.archive._anchor import (
    Anchor,
    Finding,
    compare_heads,
    decode_anchor,
    encode_anchor,
)
from orchestrator.archive._check import ExportSummary, read_events, verify_export
from orchestrator.archive._format import ExportHeader, timestamp
from orchestrator.archive._scan import verify_store
from orchestrator.archive._writer import ExportWriter

__all__ = [
    "AnchorCheck",
    "AnchorTarget",
    "ExportSelection",
    "ImportCheckError",
    "ImportResult",
    "check_anchor",
    "export_store",
    "import_export",
    "read_anchor",
    "verify_export_file",
    "write_anchor",
]


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """One saga, or the streams of a type and/or first recorded in [since, until), or all."""

    saga_id: str | None = None
    stream_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> dict[str, str | None]:
        if self.saga_id is not None:
            return {"saga": self.saga_id}
        if self.stream_type is None and self.since is None and self.until is None:
            return {}
        return {
            "stream_type": self.stream_type,
            "since": None if self.since is None else timestamp(self.since),
            "until": None if self.until is None else timestamp(self.until),
        }

    def keeps(self, row: _postgres.HeadRow) -> bool:
        if self.stream_type is not None and row.stream_type != self.stream_type:
            return False
        started = row.first_recorded_at
        if self.since is not None and (started is None or started < self.since):
            return False
        return not (self.until is not None and (started is None or started >= self.until))


def export_store(
    conninfo: str, out: BinaryIO, key: Ed25519PrivateKey, selection: ExportSelection
) -> ExportHeader:
    """Write the signed export of `selection`; one REPEATABLE READ snapshot for the header's
    heads and the events, so the file is one consistent moment of the store. LookupError,
    before anything is written, for a saga that does not exist."""
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = _postgres.read_snapshot(conn, selection.saga_id)
            chosen = [row for row in snapshot.heads if selection.keeps(row)]
            if selection.saga_id is not None and not chosen:
                raise LookupError(f"no saga {selection.saga_id} in the store")
            everything = selection.describe() == {}
            header = ExportHeader(
                exported_at=timestamp(datetime.now(UTC)),
                selection=selection.describe(),
                streams=len(chosen),
                events=sum(row.head.version for row in chosen),
                global_position=snapshot.global_position,
                heads=[row.head for row in chosen],
            )
            writer = ExportWriter(out, key)
            writer.begin(header)
            if chosen:
                ids = None if everything else [row.head.stream_id for row in chosen]
                for event in _postgres.iter_events(conn, ids):
                    writer.event(event)
            writer.finish()
    return header


Progress = Callable[[int, int, int], None]
# Lines between two progress reports: a report costs a clock read and maybe a redraw.
_PROGRESS_EVERY: Final = 10_000


def _lines(path: Path, progress: Progress | None = None) -> Iterator[bytes]:
    """The file's lines; ``progress(lines, bytes read, file size)`` now and then."""
    size = path.stat().st_size if progress is not None else 0
    read = count = 0
    with path.open("rb") as file:
        for line in file:
            read += len(line)
            count += 1
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(count, read, size)
            yield line
    if progress is not None:
        progress(count, read, size)


def verify_export_file(
    path: Path, public_key: Ed25519PublicKey, progress: Progress | None = None
) -> ExportSummary:
    """Raises ExportError (or OSError) naming the first problem."""
    return verify_export(_lines(path, progress), public_key)


class ImportCheckError(Exception):
    """The import was written but the store does not hold what the export promised."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    summary: ExportSummary
    imported: int
    verify: VerifyReport


def import_export(conninfo: str, path: Path, public_key: Ed25519PublicKey) -> ImportResult:
    """Verify the file (signature, chains, header), then load it into an empty store, then
    recompute every chain of the store and compare its heads with the header's."""
    with psycopg.connect(conninfo) as conn:
        if not _postgres.store_is_empty(conn):
            raise _postgres.NotEmptyError(
                "the target store holds events; import only into an empty one"
            )
    summary = verify_export_file(path, public_key)
    imported = _postgres.import_events(conninfo, read_events(_lines(path)))
    report = verify_store(conninfo)
    with psycopg.connect(conninfo) as conn:
        landed = [row.head for row in _postgres.read_snapshot(conn).heads]
    if sorted(landed) != sorted(summary.header.heads):
        raise ImportCheckError("after the import the store's heads differ from the export's")
    return ImportResult(summary, imported, report)


@dataclass(frozen=True, slots=True)
class AnchorTarget:
    """Where anchors go: the Kafka anchors topic."""

    bootstrap: str
    topic: str
    replication_factor: int = 1
    # TLS/SASL properties for the clients (orchestrator.security.kafka_client_security).
    security: Mapping[str, Any] = field(default_factory=dict)


def read_anchor(conninfo: str, now: datetime) -> Anchor:
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = _postgres.read_snapshot(conn)
    return Anchor(now, snapshot.global_position, [row.head for row in snapshot.heads])


def write_anchor(
    conninfo: str, target: AnchorTarget, key: Ed25519PrivateKey, now: datetime | None = None
) -> tuple[Anchor, int]:
    """Read every head, sign them, write them to the anchors topic: the anchor and its offset."""
    anchor = read_anchor(conninfo, now or datetime.now(UTC))
    _kafka.ensure_anchor_topic(
        target.bootstrap, target.topic, target.replication_factor, target.security
    )
    signed = encode_anchor(anchor, key)
    offset = _kafka.publish_anchor(target.bootstrap, target.topic, signed, target.security)
    return anchor, offset


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    anchor: Anchor | None  # None: the topic holds no anchor yet
    offset: int | None
    findings: list[Finding]


def check_anchor(conninfo: str, target: AnchorTarget, public_key: Ed25519PublicKey) -> AnchorCheck:
    """The store against the newest anchor. Raises AnchorError for an anchor that does not
    verify (itself a finding: someone wrote to the anchors topic without the key)."""
    latest = _kafka.latest_anchor(target.bootstrap, target.topic, target.security)
    if latest is None:
        return AnchorCheck(None, None, [])
    offset, value = latest
    anchor = decode_anchor(value, public_key)
    with psycopg.connect(conninfo) as conn:
        stored = _postgres.stored_heads(conn, anchor)
    return AnchorCheck(anchor, offset, compare_heads(anchor, stored))
