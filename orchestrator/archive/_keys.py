"""Ed25519 keys of exports and anchors: loading, generating, naming.

A private key is a file holding either PEM (PKCS#8, unencrypted, what `sagactl export keygen`
writes) or exactly 32 raw bytes (the seed); a public key is PEM (SubjectPublicKeyInfo) or 32
raw bytes. The environment variable SAGA_EXPORT_SIGNING_KEY holds the same PEM text, or the 32
bytes in base64. Keys never come from the database: whoever can write the store must not be
able to sign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "KeyPairFiles",
    "SigningKeyError",
    "fingerprint",
    "generate_key_pair",
    "load_private_key",
    "load_public_key",
    "private_key_from_env",
    "raw_public_key",
]

KEY_FILE_ENV = "SAGA_EXPORT_SIGNING_KEY_FILE"
KEY_ENV = "SAGA_EXPORT_SIGNING_KEY"
_RAW_KEY_BYTES = 32


class SigningKeyError(ValueError):
    """A key that cannot be read or is not Ed25519; the message says which and why."""


def _private_from_bytes(blob: bytes, origin: str) -> Ed25519PrivateKey:
    if len(blob) == _RAW_KEY_BYTES:
        return Ed25519PrivateKey.from_private_bytes(blob)
    try:
        key = serialization.load_pem_private_key(blob, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"{origin}: not an unencrypted PEM private key nor 32 raw bytes ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{origin}: a {type(key).__name__}, not an Ed25519 private key")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{what} {path}: {exc.strerror or exc}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    return _private_from_bytes(_read(path, "signing key"), f"signing key {path}")


def private_key_from_env(environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The key SAGA_EXPORT_SIGNING_KEY_FILE names, else SAGA_EXPORT_SIGNING_KEY's, else None."""
    env = os.environ if environ is None else environ
    if env.get(KEY_FILE_ENV):
        return load_private_key(Path(env[KEY_FILE_ENV]))
    text = env.get(KEY_ENV, "").strip()
    if not text:
        return None
    if text.startswith("-----BEGIN"):
        return _private_from_bytes(text.encode(), KEY_ENV)
    try:
        blob = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SigningKeyError(f"{KEY_ENV}: neither PEM nor base64 of 32 bytes") from None
    if len(blob) != _RAW_KEY_BYTES:
        raise SigningKeyError(f"{KEY_ENV}: base64 of {len(blob)} bytes, not 32")
    return _private_from_bytes(blob, KEY_ENV)


def load_public_key(path: Path) -> Ed25519PublicKey:
    blob = _read(path, "public key")
    if len(blob) == _RAW_KEY_BYTES:
        return Ed25519PublicKey.from_public_bytes(blob)
    try:
        key = serialization.load_pem_public_key(blob)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"public key {path}: not a PEM public key nor 32 raw bytes ({exc})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(
            f"public key {path}: a {type(key).__name__}, not an Ed25519 public key"
        )
    return key


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short name of a public key for messages: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    private: Path
    public: Path
    fingerprint: str


def generate_key_pair(directory: Path, name: str = "export-signing") -> KeyPairFiles:
    """A new key pair as `<name>.key` (PKCS#8 PEM) and `<name>.pub` (PEM), both mode 0600.

    Refuses to overwrite: replacing a signing key silently would orphan every export and
    anchor it signed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = directory / f"{name}.key"
    public = directory / f"{name}.pub"
    for path in (private, public):
        if path.exists():
            raise SigningKeyError(f"{path} exists; refusing to overwrite a key")
    _write_0600(
        private,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write_0600(
        public,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return KeyPairFiles(private, public, fingerprint(key.public_key()))


def _write_0600(path: Path, content: bytes) -> None:
    # O_EXCL: a file that appeared since the check above is not overwritten either; the mode is
    # set at creation, so the key is never readable by others, not even for an instant.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.chmod(path, 0o600)  # the umask may have narrowed it further; make it exactly 0600
