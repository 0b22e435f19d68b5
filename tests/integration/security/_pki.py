"""A throw-away certificate authority for the security tests, made with openssl in a tmp dir.

Nothing here is committed: every run makes fresh keys. The broker and PostgreSQL read PEM
files (Kafka's PEM key store needs the key in unencrypted PKCS#8, which `openssl req -noenc`
writes), and so do librdkafka and libpq.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = "2"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path

    def bundle(self) -> Path:
        """Key and certificate in one file, as Kafka's PEM key store reads them."""
        path = self.cert.with_suffix(".bundle.pem")
        path.write_text(self.key.read_text() + self.cert.read_text())
        return path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)


class Authority:
    """A self-signed CA under `home` that issues server and client certificates."""

    def __init__(self, home: Path, name: str) -> None:
        self.home = home
        self.name = name
        home.mkdir(parents=True, exist_ok=True)
        self.cert = home / f"{name}-ca.pem"
        self._key = home / f"{name}-ca.key"
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-noenc", "-days", VALID_DAYS,
            "-subj", f"/CN={name} test CA", "-keyout", str(self._key), "-out", str(self.cert),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(self, common_name: str, *, hosts: tuple[str, ...] = ()) -> Issued:
        """A certificate for `common_name`, valid for `hosts` (IP addresses or DNS names) as
        subject alternative names; without hosts, a client certificate."""
        stem = self.home / f"{self.name}-{common_name}"
        key, request, cert = (stem.with_suffix(s) for s in (".key", ".csr", ".pem"))
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-noenc", "-subj", f"/CN={common_name}",
            "-keyout", str(key), "-out", str(request),
        )  # fmt: skip
        extensions = stem.with_suffix(".ext")
        names = ",".join(
            f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}" for host in hosts
        )
        # A server certificate also authenticates the broker to itself (its inter-broker client
        # on a listener that requires client certificates).
        usage = "serverAuth,clientAuth" if hosts else "clientAuth"
        extensions.write_text(
            f"extendedKeyUsage={usage}\n" + (f"subjectAltName={names}\n" if names else "")
        )
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self._key),
            "-CAcreateserial", "-days", VALID_DAYS, "-extfile", str(extensions), "-out", str(cert),
        )  # fmt: skip
        key.chmod(0o600)
        return Issued(cert=cert, key=key)


def encrypt_key(key: Path, password: str) -> Path:
    """`key` as encrypted PKCS#8 (AES-256), for clients given a key password."""
    encrypted = key.with_suffix(".encrypted.key")
    _openssl(
        "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(key), "-out", str(encrypted),
        "-passout", f"pass:{password}",
    )  # fmt: skip
    encrypted.chmod(0o600)
    return encrypted
