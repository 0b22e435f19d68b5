"""PostgreSQL TLS from settings, added to every connection string the processes use.

libpq already understands `sslmode` and friends inside a URL; the settings exist so that the
certificate paths and the mode are configured once, next to the Kafka ones, instead of being
repeated in three URLs (which, holding passwords, are secrets, while the paths are not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from psycopg.conninfo import make_conninfo

from orchestrator.security._files import check_readable_file

SslMode = Literal["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

_VERIFYING: Final = frozenset({"verify-ca", "verify-full"})


@dataclass(frozen=True, slots=True)
class PostgresTls:
    sslmode: SslMode = ""  # empty: whatever the URL (or libpq's default, prefer) says
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.sslmode or self.ca_file or self.cert_file or self.key_file)


def check_postgres_tls(tls: PostgresTls) -> list[str]:
    problems: list[str] = []
    if tls.sslmode in _VERIFYING and not tls.ca_file:
        problems.append(
            f"SAGA_DATABASE_SSL_CA_FILE: required when SAGA_DATABASE_SSLMODE is {tls.sslmode} "
            "(the CA that signed the server's certificate)"
        )
    if bool(tls.cert_file) != bool(tls.key_file):
        problems.append(
            "SAGA_DATABASE_SSL_CERT_FILE and SAGA_DATABASE_SSL_KEY_FILE: a client certificate "
            "needs both (or neither)"
        )
    if tls.sslmode == "disable" and (tls.ca_file or tls.cert_file):
        problems.append("SAGA_DATABASE_SSL_*: set, but SAGA_DATABASE_SSLMODE is disable")
    for variable, path in (
        ("SAGA_DATABASE_SSL_CA_FILE", tls.ca_file),
        ("SAGA_DATABASE_SSL_CERT_FILE", tls.cert_file),
        ("SAGA_DATABASE_SSL_KEY_FILE", tls.key_file),
    ):
        if path and (problem := check_readable_file(variable, path)) is not None:
            problems.append(problem)
    return problems


def with_postgres_tls(conninfo: str, tls: PostgresTls) -> str:
    """`conninfo` with the TLS settings that are set; the settings win over the URL's own."""
    if not tls.configured:
        return conninfo
    extra = {
        "sslmode": tls.sslmode,
        "sslrootcert": tls.ca_file,
        "sslcert": tls.cert_file,
        "sslkey": tls.key_file,
    }
    return make_conninfo(conninfo, **{name: value for name, value in extra.items() if value})
