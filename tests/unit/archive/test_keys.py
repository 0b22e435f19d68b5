"""Signing keys: generated 0600, read as PEM or raw bytes, from a file or the environment."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.archive import (
    KEY_ENV,
    KEY_FILE_ENV,
    SigningKeyError,
    fingerprint,
    generate_key_pair,
    load_private_key,
    load_public_key,
    private_key_from_env,
)


def test_keygen_writes_a_pair_readable_by_the_owner_only(tmp_path: Path) -> None:
    pair = generate_key_pair(tmp_path / "keys")
    for path in (pair.private, pair.public):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_private_key(pair.private)
    assert fingerprint(load_public_key(pair.public)) == fingerprint(key.public_key())
    assert pair.fingerprint == fingerprint(key.public_key())
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        generate_key_pair(tmp_path / "keys")


def test_raw_32_byte_keys_are_read_too(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "k").write_bytes(key.private_bytes_raw())
    (tmp_path / "p").write_bytes(key.public_key().public_bytes_raw())
    assert fingerprint(load_private_key(tmp_path / "k").public_key()) == fingerprint(
        load_public_key(tmp_path / "p")
    )


def test_the_environment_gives_a_key_file_pem_text_or_base64(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "k.pem").write_bytes(pem)
    wanted = fingerprint(key.public_key())
    for env in (
        {KEY_FILE_ENV: str(tmp_path / "k.pem")},
        {KEY_ENV: pem.decode()},
        {KEY_ENV: base64.b64encode(key.private_bytes_raw()).decode()},
    ):
        found = private_key_from_env(env)
        assert found is not None, env
        assert fingerprint(found.public_key()) == wanted, env
    assert private_key_from_env({}) is None
    with pytest.raises(SigningKeyError, match="base64 of 5 bytes"):
        private_key_from_env({KEY_ENV: base64.b64encode(b"short").decode()})


def test_a_file_that_is_no_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"not a key\n")
    with pytest.raises(SigningKeyError, match="junk: not an unencrypted PEM private key"):
        load_private_key(tmp_path / "junk")
    with pytest.raises(SigningKeyError, match="junk: not a PEM public key"):
        load_public_key(tmp_path / "junk")
