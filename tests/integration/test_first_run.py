"""README's first command on a machine whose broker has never run.

A brand-new single-node KRaft broker (formatted in a temporary directory, on free ports, from
the same jars and properties `make up` uses) answers its first metadata request seconds before
its group coordinator has created `__consumer_offsets`. `sagactl demo` is started at exactly
that moment, as `make demo` right after the first `make up` would be.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests import support
from tests.conftest import PgUrls
from tests.integration.test_devstack import load_stack

REPO = Path(__file__).resolve().parents[2]
ORDERS = 20
DEMO_TIMEOUT_S = 300


def _free_ports(count: int) -> list[int]:
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[str]:
    """The bootstrap address of a broker that has never run, returned as soon as it answers
    a metadata request (the same readiness test `make up` uses)."""
    stack = load_stack()
    port, controller_port = _free_ports(2)
    home = tmp_path / "kafka"
    process = stack.launch_kafka(home, port, controller_port, stack.RUN / "kafka-libs")
    bootstrap = f"127.0.0.1:{port}"
    try:
        stack.wait_for_kafka(bootstrap, process.pid, home / "server.log")
        yield bootstrap
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.fixture
def scratch_database(pg_urls: PgUrls) -> Iterator[tuple[str, str]]:
    """(app URL, owner URL) of an empty database that nothing has migrated yet."""
    with support.scratch_database(pg_urls, prefix="first_run", migrated=False) as db:
        yield db.app, db.owner


def test_demo_succeeds_right_after_a_broker_starts_for_the_first_time(
    fresh_broker: str, scratch_database: tuple[str, str]
) -> None:
    topics = AdminClient({"bootstrap.servers": fresh_broker}).list_topics(timeout=10).topics
    assert "__consumer_offsets" not in topics, "the broker is not fresh: groups already ran"
    app_url, owner_url = scratch_database
    env = {key: value for key, value in os.environ.items() if not key.startswith("SAGA_")}
    env |= {
        "SAGA_KAFKA_BOOTSTRAP": fresh_broker,
        "SAGA_DATABASE_URL": app_url,
        "SAGA_OWNER_DATABASE_URL": owner_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "demo", "--orders", str(ORDERS)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    counts = {
        match[1]: int(match[2])
        for match in re.finditer(r"^(\w+)\s+(\d+)\s", result.stdout, flags=re.MULTILINE)
    }
    assert counts["all"] == ORDERS, result.stdout
    ended = sum(n for status, n in counts.items() if status not in ("all", "status"))
    assert ended == ORDERS, result.stdout
    assert f"{ORDERS} sagas in " in result.stdout


@pytest.mark.parametrize(
    ("variable", "complaint"),
    [
        ("SAGA_KAFKA_BOOTSTRAP", "sagactl: demo: Kafka at 127.0.0.1:{port}: not within 30s ("),
        ("SAGA_OWNER_DATABASE_URL", "sagactl: PostgreSQL unreachable: "),
        ("SAGA_DATABASE_URL", "sagactl: PostgreSQL unreachable: "),
    ],
    ids=["kafka", "postgres-owner", "postgres-app"],
)
def test_demo_ends_in_one_line_and_exit_3_when_a_dependency_does_not_answer(
    variable: str, complaint: str
) -> None:
    [port] = _free_ports(1)  # nothing listens there
    unreachable = {
        "SAGA_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "SAGA_OWNER_DATABASE_URL": f"postgresql://saga_owner:saga_owner@127.0.0.1:{port}/saga",
        "SAGA_DATABASE_URL": f"postgresql://saga:saga@127.0.0.1:{port}/saga",
    }
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "demo", "--orders", "1"],
        cwd=REPO,
        env={**os.environ, variable: unreachable[variable]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    [line] = result.stderr.splitlines()
    assert line.startswith(complaint.format(port=port)), line
