"""Point 7 of issue 14: known secrets, debug logging, successes and failures; not one byte of
any secret in anything the processes wrote (stdout, stderr, logs, /metrics)."""

from __future__ import annotations

import base64
import secrets
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.conftest import PgUrls
from tests.integration.security._pki import encrypt_key
from tests.integration.security._run import sagactl, spawn, stop, tails
from tests.integration.security.conftest import SecureKafka, free_ports

ORDERS = 5


@dataclass(frozen=True)
class LeakDatabase:
    url: str  # the role owns the database: app and owner URL at once
    password: str


@pytest.fixture
def leak_database(pg_urls: PgUrls) -> Iterator[LeakDatabase]:
    """A database owned by a role of its own, whose password is a known, unique string."""
    name = f"leak_{uuid.uuid4().hex[:10]}"
    password = f"pg-{secrets.token_urlsafe(16)}"
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(name)
            )
        )
    try:
        yield LeakDatabase(
            make_conninfo(pg_urls.owner, user=name, password=password, dbname=name), password
        )
    finally:
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _write_secret(directory: Path, name: str, value: str) -> str:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered on {port}: {log.read_text()[-2000:]}")


@pytest.mark.timeout(900)
def test_no_secret_appears_in_anything_the_processes_write(
    secure_kafka: SecureKafka, leak_database: LeakDatabase, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    files = tmp_path / "secrets"
    files.mkdir()
    registry_password = f"reg-{secrets.token_urlsafe(16)}"
    key_password = f"key-{secrets.token_urlsafe(16)}"
    wrong_password = f"wrong-{secrets.token_urlsafe(16)}"
    known = [
        leak_database.password,
        registry_password,
        key_password,
        wrong_password,
        *secure_kafka.passwords.values(),
    ]
    registry_port, metrics_port, dead_port = free_ports(3)
    registry_url = f"http://127.0.0.1:{registry_port}"
    # Half the secrets from files, half from the environment: both paths are searched.
    base = {
        "SAGA_DATABASE_URL_FILE": _write_secret(files, "db", leak_database.url),
        "SAGA_OWNER_DATABASE_URL": leak_database.url,
        "SAGA_LOG_LEVEL": "debug",
        "SAGA_LOG_FORMAT": "json",
    }
    encrypted = encrypt_key(secure_kafka.certificates["admin"].key, key_password)
    kafka = secure_kafka.env("admin") | {
        "SAGA_KAFKA_SASL_PASSWORD": "",
        "SAGA_KAFKA_SASL_PASSWORD_FILE": _write_secret(
            files, "sasl", secure_kafka.passwords["admin"]
        ),
        "SAGA_KAFKA_SSL_KEY_FILE": str(encrypted),
        "SAGA_KAFKA_SSL_KEY_PASSWORD": key_password,
    }
    registry_client = {
        "SAGA_SCHEMA_REGISTRY_URL": registry_url,
        "SAGA_SCHEMA_REGISTRY_BASIC_AUTH_FILE": _write_secret(
            files, "registry", f"saga:{registry_password}"
        ),
    }
    env = base | kafka | registry_client
    outputs: list[bytes] = []

    def record(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
        outputs.extend([result.stdout.encode(), result.stderr.encode()])
        return result

    assert record(sagactl(["db", "migrate"], base, timeout=120)).returncode == 0
    registry = spawn(
        ["registry", "serve", "--port", str(registry_port)],
        base | {"SAGA_REGISTRY_SERVER_BASIC_AUTH": f"saga:{registry_password}"},
        logs / "registry.log",
    )
    children = [registry]
    try:
        _wait_for_port(registry_port, registry, logs / "registry.log")
        worker = spawn(
            ["worker"], env | {"SAGA_METRICS_PORT": str(metrics_port)}, logs / "worker.log"
        )
        children.append(worker)
        children.append(
            spawn(
                ["participant", "credit", "inventory", "shipping"], env, logs / "participants.log"
            )
        )
        demo = record(
            sagactl(
                ["demo", "--external-services", "--orders", str(ORDERS), "--timeout", "240"],
                env,
                timeout=300,
            )
        )
        assert demo.returncode == 0, demo.stderr[-2000:] + tails(logs)
        assert f"{ORDERS} sagas in " in demo.stdout
        with urllib.request.urlopen(
            f"http://127.0.0.1:{metrics_port}/metrics", timeout=10
        ) as reply:
            metrics = reply.read()
        assert b"saga_" in metrics
        outputs.append(metrics)
        record(sagactl(["saga", "list"], env, timeout=60))
        # Failures, each with the secrets configured: one line each, and still no secret.
        wrong_db = make_conninfo(leak_database.url, password=wrong_password)
        failures = {
            "wrong Kafka password": {
                "SAGA_KAFKA_SASL_PASSWORD_FILE": _write_secret(files, "wrong", wrong_password)
            },
            "broker down": {"SAGA_KAFKA_BOOTSTRAP": f"127.0.0.1:{dead_port}"},
            "wrong registry password": {
                "SAGA_SCHEMA_REGISTRY_BASIC_AUTH_FILE": "",
                "SAGA_SCHEMA_REGISTRY_BASIC_AUTH": f"saga:{wrong_password}",
            },
            "wrong database password": {
                "SAGA_DATABASE_URL_FILE": _write_secret(files, "wrong-db", wrong_db)
            },
        }
        for case, failing in failures.items():
            result = record(sagactl(["worker"], env | failing, timeout=90))
            assert result.returncode == 3, (case, result.stderr[-2000:])
            assert len(result.stderr.splitlines()) == 1, (case, result.stderr[-2000:])
    finally:
        stop(children)
    outputs.extend(path.read_bytes() for path in logs.iterdir())
    written = b"\n".join(outputs)
    assert b'"level": "debug"' in written or b'"level":"debug"' in written, "no debug logging ran"
    forms = {
        secret: [secret.encode(), base64.b64encode(f"saga:{secret}".encode())] for secret in known
    }
    leaked = [secret for secret, encodings in forms.items() if any(e in written for e in encodings)]
    assert leaked == [], f"{len(leaked)} secret(s) written by the processes"
