"""`sagactl db rebuild` progress on stderr: plain lines in a pipe, a redrawn bar with an
estimate on a terminal (a pseudo-terminal here), against a real database of 3,000 events
(three pages of the rebuild)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from event_store import NewEvent, StreamAppend
from event_store.postgres import PostgresEventStore
from orchestrator.cli import sagactl
from tests.conftest import PgUrls
from tests.integration.cli.walk import REPO
from tests.support import ScratchDb, scratch_database

EVENTS = 3000  # three pages of 1,000: progress is reported at a third, two thirds, the end


@pytest.fixture(scope="module")
def store_of_3000(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    with scratch_database(pg_urls) as db, PostgresEventStore(db.app) as store:
        for first in range(0, EVENTS, 500):
            store.append_batch(
                [
                    StreamAppend(
                        f"s-{n:05d}",
                        "order_fulfilment",
                        0,
                        [NewEvent("SagaStarted", {"saga_type": "order_fulfilment"})],
                    )
                    for n in range(first, first + 500)
                ]
            )
        yield db


def env_of(db: ScratchDb) -> dict[str, str]:
    return {**os.environ, "SAGA_DATABASE_URL": db.app, "SAGA_OWNER_DATABASE_URL": db.owner}


def test_plain_lines_when_stderr_is_not_a_terminal(store_of_3000: ScratchDb) -> None:
    result = CliRunner().invoke(sagactl, ["db", "rebuild"], env=env_of(store_of_3000))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    progress = [line for line in lines if line.startswith("rebuild: ")]
    assert [line.split()[1] for line in progress] == ["33%", "67%", "100%"]
    assert "3,000 events" in progress[-1]
    assert "left)" in progress[0]
    assert "\r" not in result.stderr
    assert "\x1b" not in result.stderr
    assert "saga_instances" in result.stdout  # the report itself is unchanged, on stdout


def test_a_bar_with_an_estimate_is_drawn_on_a_terminal(store_of_3000: ScratchDb) -> None:
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "db", "rebuild"],
        cwd=REPO,
        env=env_of(store_of_3000),
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed its end of the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    stdout, _ = child.communicate(timeout=60)
    assert child.returncode == 0, drawn
    text = drawn.decode()
    assert text.count("\r\x1b[K") >= 1  # redrawn in place
    assert "rebuild [####################] 100%" in text
    assert "3,000 events" in text
    assert "ETA " in text
    assert b"saga_instances" in stdout
