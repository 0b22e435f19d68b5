"""Ed25519 signatures over a SHA-512 digest of the exact bytes signed, per purpose.

`cryptography`'s Ed25519 signs one message held in memory; an export of a large store is
gigabytes, so what is signed is a purpose tag and the SHA-512 of the exact bytes (computed
while they are written or read). The tag keeps an export's signature from being replayed as an
anchor's and the other way round.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["ANCHOR_PURPOSE", "EXPORT_PURPOSE", "digest_of", "sign", "signature_holds"]

EXPORT_PURPOSE: Final = b"saga-orchestrator export v1\x00"
ANCHOR_PURPOSE: Final = b"saga-orchestrator anchor v1\x00"


def digest_of(content: bytes) -> bytes:
    return hashlib.sha512(content).digest()


def sign(key: Ed25519PrivateKey, purpose: bytes, digest: bytes) -> str:
    """The base64 signature of `digest` (a SHA-512) for `purpose`."""
    return base64.b64encode(key.sign(purpose + digest)).decode("ascii")


def signature_holds(key: Ed25519PublicKey, purpose: bytes, digest: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, purpose + digest)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
