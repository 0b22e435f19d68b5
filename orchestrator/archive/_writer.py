"""Writing an export: lines out as they come, the digest kept on the way, the trailer last."""

from __future__ import annotations

import base64
import hashlib
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from event_store import GENESIS_HASH, RecordedEvent
from orchestrator.archive._format import ExportHeader, event_line, header_line, trailer_line
from orchestrator.archive._keys import raw_public_key
from orchestrator.archive._signing import EXPORT_PURPOSE, sign

__all__ = ["ExportWriter"]


class ExportWriter:
    """Header first (`begin`), then every event in position order (`event`), then `finish`."""

    def __init__(self, out: BinaryIO, key: Ed25519PrivateKey) -> None:
        self._out = out
        self._key = key
        self._digest = hashlib.sha512()
        self._last_hash: dict[str, str] = {}
        self.events_written = 0
        self.bytes_written = 0

    def _write(self, line: bytes) -> None:
        self._digest.update(line)
        self._out.write(line)
        self.bytes_written += len(line)

    def begin(self, header: ExportHeader) -> None:
        self._write(header_line(header))

    def event(self, event: RecordedEvent) -> None:
        previous = self._last_hash.get(event.stream_id, GENESIS_HASH)
        self._write(event_line(event, previous))
        self._last_hash[event.stream_id] = event.hash
        self.events_written += 1

    def finish(self) -> None:
        public = base64.b64encode(raw_public_key(self._key.public_key())).decode("ascii")
        signature = sign(self._key, EXPORT_PURPOSE, self._digest.digest())
        line = trailer_line(public, signature)
        self._out.write(line)
        self.bytes_written += len(line)
        self._out.flush()
