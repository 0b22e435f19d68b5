"""Point 6 of issue 14: SAGA_DATABASE_SSLMODE=verify-full with a CA file from configuration,
against a PostgreSQL cluster of the test's own that accepts TLS connections only."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.integration.security._pki import Authority
from tests.integration.security._run import demo_counts, sagactl
from tests.integration.security.conftest import free_ports
from tests.integration.test_devstack import load_stack

ORDERS = 5


@dataclass(frozen=True)
class TlsCluster:
    port: int
    ca: Path
    untrusted_ca: Path

    def url(self, role: str, host: str = "127.0.0.1") -> str:
        return f"postgresql://{role}:{role}@{host}:{self.port}/saga"


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[TlsCluster]:
    stack = load_stack()
    # Not pytest's tmp dir: the postgres user must be able to enter it.
    home = Path(tempfile.mkdtemp(prefix="saga-pg-tls-"))
    home.chmod(0o755)
    pki = Path(tempfile.mkdtemp(prefix="saga-pg-pki-"))
    authority = Authority(pki, "postgres")
    # Named for 127.0.0.1 only: `localhost` is a host name verify-full must reject.
    server = authority.issue("server", hosts=("127.0.0.1",))
    untrusted = Authority(pki / "untrusted", "stranger")
    [port] = free_ports(1)
    superuser = stack.launch_tls_postgres(home, port, server.cert, server.key)
    try:
        tls = f"{superuser}?sslmode=verify-full&sslrootcert={authority.cert}"
        with psycopg.connect(tls, autocommit=True) as conn:
            for role in ("saga_owner", "saga"):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(role)
                    )
                )
            conn.execute("CREATE DATABASE saga OWNER saga_owner")
        yield TlsCluster(port, authority.cert, untrusted.cert)
    finally:
        stack.stop_postgres_cluster(home)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(pki, ignore_errors=True)


def _env(cluster: TlsCluster, **overrides: str) -> dict[str, str]:
    return {
        "SAGA_DATABASE_URL": cluster.url("saga"),
        "SAGA_OWNER_DATABASE_URL": cluster.url("saga_owner"),
        "SAGA_DATABASE_SSLMODE": "verify-full",
        "SAGA_DATABASE_SSL_CA_FILE": str(cluster.ca),
        **overrides,
    }


@pytest.mark.timeout(400)
def test_sagas_run_over_verified_tls(tls_cluster: TlsCluster, kafka_bootstrap: str) -> None:
    # The cluster refuses every connection that is not TLS, so each of the demo's processes
    # (migrations, worker with relay and projector, participants, starter) used it.
    env = _env(tls_cluster, SAGA_KAFKA_BOOTSTRAP=kafka_bootstrap,
               SAGA_CONSUMER_GROUP="pg-tls-demo")  # fmt: skip
    result = sagactl(["demo", "--orders", str(ORDERS)], env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = demo_counts(result.stdout)
    assert counts["all"] == ORDERS, result.stdout


def test_the_cluster_refuses_connections_without_tls(tls_cluster: TlsCluster) -> None:
    result = sagactl(["db", "verify"], _env(tls_cluster, SAGA_DATABASE_SSLMODE="disable",
                                            SAGA_DATABASE_SSL_CA_FILE=""), timeout=60)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "no encryption" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"SAGA_DATABASE_SSL_CA_FILE": "untrusted"}, "certificate verify failed"),
        ({"host": "localhost"}, 'does not match host name "localhost"'),
    ],
    ids=["untrusted-ca", "wrong-host-name"],
)
def test_verify_full_refuses_a_server_it_cannot_verify(
    tls_cluster: TlsCluster, overrides: dict[str, str], complaint: str
) -> None:
    env = _env(tls_cluster)
    if overrides.get("host"):
        env["SAGA_DATABASE_URL"] = tls_cluster.url("saga", host=overrides["host"])
    else:
        env["SAGA_DATABASE_SSL_CA_FILE"] = str(tls_cluster.untrusted_ca)
    result = sagactl(["db", "verify"], env, timeout=60)
    assert result.returncode == 3, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("sagactl: PostgreSQL unreachable: "), line
    assert complaint in line, line
