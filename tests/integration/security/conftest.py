"""A broker of the tests' own: one SASL_SSL listener (SCRAM users made by the broker's storage
tool, client certificates required, certificates made by `_pki` in a tmp dir) and KRaft's
StandardAuthorizer, on free ports, for the whole package; a scratch database per test
(test_first_run's: (app URL, owner URL) of an empty database)."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.security._pki import Authority, Issued
from tests.integration.test_devstack import load_stack
from tests.integration.test_first_run import _free_ports as free_ports
from tests.integration.test_first_run import scratch_database

__all__ = ["free_ports", "scratch_database"]  # test_first_run's, shared

# Principals of the tests: `admin` is the broker's super user; the others get ACLs.
PRINCIPALS = ("worker", "starter", "credit", "inventory", "shipping")


@dataclass(frozen=True)
class SecureKafka:
    bootstrap: str
    ca: Path
    passwords: dict[str, str]  # principal -> SCRAM password (admin included)
    certificates: dict[str, Issued]  # principal -> client certificate
    untrusted_ca: Path  # a CA that signed nothing the broker presents

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

    def client_config(self, principal: str) -> dict[str, str | int | float | bool]:
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
