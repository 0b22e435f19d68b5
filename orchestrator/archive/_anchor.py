"""Anchors: signed checkpoints of every stream's head, and what the store is judged by.

An anchor lists every stream's head (last version and hash), not a Merkle root over them: a
root can only say that something differs, while `db verify` must say which stream and how (a
rewritten tail, a removed stream, a removed event), and a root would need the full list kept
somewhere the database's writers cannot reach anyway. The list costs ~100 bytes a stream
before compression; the anchors topic allows messages of 64 MiB (compressed, about a million
streams).

Because history is append-only, a head once anchored stays true for ever: the event at the
anchored version must still exist with the anchored hash, whatever was appended since.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from event_store import canonical_json
from orchestrator.archive._format import timestamp
from orchestrator.archive._heads import StreamHead
from orchestrator.archive._keys import fingerprint
from orchestrator.archive._signing import ANCHOR_PURPOSE, sign, signature_holds

__all__ = [
    "ANCHOR_FORMAT",
    "Anchor",
    "AnchorError",
    "Finding",
    "FindingKind",
    "StoredHead",
    "compare_heads",
    "decode_anchor",
    "encode_anchor",
]

ANCHOR_FORMAT: Final = "saga-orchestrator-anchor"
ANCHOR_FORMAT_VERSION: Final = 1


class AnchorError(ValueError):
    """A stored anchor that cannot be read or whose signature does not hold."""


@dataclass(frozen=True, slots=True)
class Anchor:
    anchored_at: datetime
    # The highest position the snapshot showed: every event up to it is pinned by the heads.
    global_position: int
    heads: Sequence[StreamHead]

    @property
    def events(self) -> int:
        return sum(head.version for head in self.heads)

    def body(self) -> dict[str, Any]:
        return {
            "format": ANCHOR_FORMAT,
            "format_version": ANCHOR_FORMAT_VERSION,
            "anchored_at": timestamp(self.anchored_at),
            "global_position": self.global_position,
            "streams": len(self.heads),
            "events": self.events,
            "heads": [[h.stream_id, h.version, h.hash] for h in sorted(self.heads)],
        }


def _digest(body: Mapping[str, Any]) -> bytes:
    return hashlib.sha512(canonical_json(body).encode("utf-8")).digest()


def encode_anchor(anchor: Anchor, key: Ed25519PrivateKey) -> bytes:
    body = anchor.body()
    return canonical_json(
        {
            "anchor": body,
            "signer": fingerprint(key.public_key()),
            "signature": sign(key, ANCHOR_PURPOSE, _digest(body)),
        }
    ).encode("utf-8")


def decode_anchor(value: bytes, public_key: Ed25519PublicKey) -> Anchor:
    """The anchor in `value`, once its signature holds under `public_key`."""
    try:
        document = json.loads(value)
        body = document["anchor"]
        signature = document["signature"]
    except (ValueError, TypeError, KeyError) as exc:
        raise AnchorError(f"not a signed anchor ({exc!r})") from None
    if not isinstance(body, dict) or not isinstance(signature, str):
        raise AnchorError("not a signed anchor")
    if not signature_holds(public_key, ANCHOR_PURPOSE, _digest(body), signature):
        raise AnchorError(
            f"its signature does not hold under public key {fingerprint(public_key)} "
            f"(signed by {document.get('signer')!r}): forged, altered, or another key"
        )
    if body.get("format") != ANCHOR_FORMAT or body.get("format_version") != ANCHOR_FORMAT_VERSION:
        raise AnchorError(f"format {body.get('format')!r} {body.get('format_version')!r}")
    try:
        heads = [StreamHead(str(s), int(v), str(h)) for s, v, h in body["heads"]]
        return Anchor(
            anchored_at=datetime.fromisoformat(body["anchored_at"]),
            global_position=int(body["global_position"]),
            heads=heads,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise AnchorError(f"a signed anchor with a malformed body ({exc!r})") from None


class FindingKind(enum.Enum):
    # The event at the anchored version is there with another hash: its content was changed
    # and its hash (and maybe its successors') recomputed, so the chain alone still verifies.
    REWRITTEN_TAIL = "rewritten tail"
    # The anchored stream has no event at all any more.
    REMOVED_STREAM = "removed stream"
    # The stream ends before the anchored version: its newest event(s) were deleted.
    REMOVED_EVENT = "removed event"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    stream_id: str
    version: int
    reason: str


@dataclass(frozen=True, slots=True)
class StoredHead:
    """What the store holds for one anchored stream: its last version (0: no event) and the
    hash of its event at the anchored version (None: no such event)."""

    stream_id: str
    last_version: int
    hash_at_anchored_version: str | None


def compare_heads(anchor: Anchor, stored: Iterable[StoredHead]) -> list[Finding]:
    """The findings of every anchored stream, in stream order."""
    by_stream = {item.stream_id: item for item in stored}
    at = timestamp(anchor.anchored_at)
    findings = []
    for head in sorted(anchor.heads):
        found = by_stream.get(head.stream_id, StoredHead(head.stream_id, 0, None))
        if found.last_version == 0:
            findings.append(
                Finding(
                    FindingKind.REMOVED_STREAM,
                    head.stream_id,
                    head.version,
                    f"the stream had {head.version} event(s) at the anchor of {at} and has "
                    "none now: it was removed",
                )
            )
        elif found.last_version < head.version:
            findings.append(
                Finding(
                    FindingKind.REMOVED_EVENT,
                    head.stream_id,
                    found.last_version + 1,
                    f"the stream ends at version {found.last_version} but the anchor of {at} "
                    f"holds version {head.version}: its newest event(s) were removed",
                )
            )
        elif found.hash_at_anchored_version != head.hash:
            findings.append(
                Finding(
                    FindingKind.REWRITTEN_TAIL,
                    head.stream_id,
                    head.version,
                    f"version {head.version}'s hash is not the one the anchor of {at} holds: "
                    "the stream was rewritten and its hashes recomputed",
                )
            )
    return findings
