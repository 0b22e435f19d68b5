"""The head of a stream: its last version and that event's chain hash.

Heads are what an export's header promises and what an anchor pins: with the hash chain, a head
fixes every event of its stream up to that version.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StreamHead"]


@dataclass(frozen=True, slots=True, order=True)
class StreamHead:
    stream_id: str
    version: int
    hash: str
