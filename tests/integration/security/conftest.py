"""A broker of the tests' own: one SASL_SSL listener (SCRAM users made by the broker's storage
tool, client certificates required, certificates made by `_pki` in a tmp dir) and KRaft's
StandardAuthorizer, on free ports, for the whole package; a scratch database per test."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import PgUrls
from tests.integration.security._pki import Authority, Issued
from tests.integration.test_devstack import load_stack

# Principals of the tests: `admin` is the broker's super user; the others get ACLs.
PRINCIPALS = ("worker", "starter", "credit", "inventory", "shipping")


def free_ports(count: int) -> list[int]:
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass(frozen=True)
class SecureKafka:
    bootstrap: str
    ca: Path
    passwords: dict[str, str]  # principal -> SCRAM password (admin included)
    certificates: dict[str, Issued]  # principal -> client certificate
    untrusted_ca: Path  # a CA that signed nothing the broker presents
    home: Path
    log_files: list[Path] = field(default_factory=list)

    def env(self, principal: str, *, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """The SAGA_KAFKA_* variables of a process that connects as `principal`."""
        certificate = self.certificates[principal]
        return {
            "SAGA_KAFKA_BOOTSTRAP": self.bootstrap,
            "SAGA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "SAGA_KAFKA_SASL_MECHANISM": mechanism,
            "SAGA_KAFKA_SASL_USERNAME": principal,
            "SAGA_KAFKA_SASL_PASSWORD": self.passwords[principal],
            "SAGA_KAFKA_SSL_CA_FILE": str(self.ca),
            "SAGA_KAFKA_SSL_CERT_FILE": str(certificate.cert),
            "SAGA_KAFKA_SSL_KEY_FILE": str(certificate.key),
        }

    def client_config(self, principal: str) -> dict[str, str]:
        """librdkafka properties for the tests' own clients as `principal`."""
        certificate = self.certificates[principal]
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": principal,
            "sasl.password": self.passwords[principal],
            "ssl.ca.location": str(self.ca),
            "ssl.certificate.location": str(certificate.cert),
            "ssl.key.location": str(certificate.key),
        }


@pytest.fixture(scope="package")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    stack = load_stack()
    home = tmp_path_factory.mktemp("secure-kafka")
    authority = Authority(home / "pki", "kafka")
    server = authority.issue("broker", hosts=("127.0.0.1", "localhost"))
    principals = ("admin", *PRINCIPALS)
    certificates = {name: authority.issue(name) for name in principals}
    untrusted = Authority(home / "pki-untrusted", "stranger")
    passwords = {name: f"{name}-{secrets.token_urlsafe(12)}" for name in principals}
    port, controller_port = free_ports(2)
    broker = stack.SecureBroker(
        keystore=server.bundle(),
        truststore=authority.cert,
        admin_password=passwords["admin"],
        users={name: passwords[name] for name in PRINCIPALS},
    )
    process = stack.launch_secure_kafka(
        home / "kafka", port, controller_port, stack.RUN / "kafka-libs", broker
    )
    kafka = SecureKafka(
        bootstrap=f"127.0.0.1:{port}",
        ca=authority.cert,
        passwords=passwords,
        certificates=certificates,
        untrusted_ca=untrusted.cert,
        home=home,
    )
    try:
        stack.wait_for_kafka(
            kafka.bootstrap,
            process.pid,
            home / "kafka" / "server.log",
            kafka.client_config("admin"),
        )
        yield kafka
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@dataclass(frozen=True)
class ScratchDatabase:
    app: str
    owner: str


@pytest.fixture
def scratch_database(pg_urls: PgUrls) -> Iterator[ScratchDatabase]:
    """An empty database of the shared cluster, owned by the owner role; dropped afterwards."""
    name = f"security_{uuid.uuid4().hex[:10]}"
    owner_role = str(conninfo_to_dict(pg_urls.owner).get("user") or "")
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner_role)
            )
        )
    try:
        yield ScratchDatabase(
            app=make_conninfo(pg_urls.app, dbname=name),
            owner=make_conninfo(pg_urls.owner, dbname=name),
        )
    finally:
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
