"""Point 4 of issue 14: every client over SASL_SSL (SCRAM, mutual TLS) from configuration, and
a refused connection is one line at start, not a hang."""

from __future__ import annotations

import time

import pytest

from tests.integration.security._run import demo_counts, sagactl
from tests.integration.security.conftest import SecureKafka

ORDERS = 12
# A refusal is reported as soon as librdkafka reports it; this bounds start-up on a loaded box.
REFUSAL_WITHIN_S = 30


def _database(database: tuple[str, str]) -> dict[str, str]:
    return {"SAGA_DATABASE_URL": database[0], "SAGA_OWNER_DATABASE_URL": database[1]}


@pytest.mark.timeout(400)
def test_sagas_run_end_to_end_over_sasl_ssl(
    secure_kafka: SecureKafka, scratch_database: tuple[str, str]
) -> None:
    # The demo creates the topics, runs `sagactl worker` and a `sagactl participant` per
    # service as child processes, starts the orders and waits for them: every client the
    # project has, each with the settings below (the super user: ACLs are test_acls.py's).
    env = secure_kafka.env("admin", mechanism="SCRAM-SHA-256") | _database(scratch_database)
    result = sagactl(["demo", "--orders", str(ORDERS)], env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = demo_counts(result.stdout)
    assert counts["all"] == ORDERS, result.stdout
    assert sum(n for status, n in counts.items() if status not in ("all", "status")) == ORDERS


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        ("wrong-password", "SASL authentication error: Authentication failed"),
        ("untrusted-broker-certificate", "SSL handshake failed: "),
        ("no-client-certificate", "ssl/tls alert bad certificate"),
    ],
)
def test_a_refused_connection_is_one_line_at_start(
    secure_kafka: SecureKafka, scratch_database: tuple[str, str], case: str, complaint: str
) -> None:
    env = secure_kafka.env("worker") | _database(scratch_database)
    if case == "wrong-password":
        env["SAGA_KAFKA_SASL_PASSWORD"] = "not-the-password"
    elif case == "untrusted-broker-certificate":
        env["SAGA_KAFKA_SSL_CA_FILE"] = str(secure_kafka.untrusted_ca)
    else:
        del env["SAGA_KAFKA_SSL_CERT_FILE"], env["SAGA_KAFKA_SSL_KEY_FILE"]
    started = time.monotonic()
    result = sagactl(["worker"], env, timeout=REFUSAL_WITHIN_S + 30)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr[-3000:]
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"sagactl: Kafka refused the connection at {secure_kafka.bootstrap}: "
    ), line
    assert complaint in line, line
    assert elapsed < REFUSAL_WITHIN_S, f"took {elapsed:.1f}s"


def test_a_plaintext_client_of_a_tls_listener_is_one_line(
    secure_kafka: SecureKafka, scratch_database: tuple[str, str]
) -> None:
    env = {"SAGA_KAFKA_BOOTSTRAP": secure_kafka.bootstrap} | _database(scratch_database)
    result = sagactl(["worker"], env, timeout=60)
    assert result.returncode == 3, result.stderr[-3000:]
    [line] = result.stderr.splitlines()
    assert line.startswith(f"sagactl: Kafka unreachable at {secure_kafka.bootstrap}: "), line
