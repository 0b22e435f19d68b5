"""`sagactl verify` (the store, and an export file) and `sagactl audit` draw a progress bar on
a terminal (a pseudo-terminal here), and keep stderr to their verdict in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from event_store.postgres import PostgresEventStore
from orchestrator.archive import ExportSelection, export_store, generate_key_pair, load_private_key
from orchestrator.projections import rebuild
from orchestrator.saga import SagaRegistry, saga_id_for
from sagas.order_fulfilment import OrderFulfilment
from tests.conftest import PgUrls
from tests.integration.cli.walk import REPO
from tests.integration.forensics.test_audit import TYPE, compensated
from tests.support import ScratchDb, scratch_database

SAGAS = 20


@pytest.fixture(scope="module")
def store(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    with scratch_database(pg_urls) as db:
        with PostgresEventStore(db.app) as events:
            for n in range(SAGAS):
                key = f"o-progress-{n}"
                events.append(
                    saga_id_for(TYPE, key), TYPE, 0, [e.to_new_event() for e in compensated(key)]
                )
        rebuild(db.owner, registry=SagaRegistry([OrderFulfilment]))
        yield db


def run(argv: list[str], db: ScratchDb, *, terminal: bool) -> tuple[int, str]:
    """Exit status and stderr of `sagactl argv`, its stderr a pseudo-terminal or a pipe."""
    env = {
        **os.environ,
        "SAGA_DATABASE_URL": db.app,
        "SAGA_SAGAS": "sagas.order_fulfilment:OrderFulfilment",
    }
    command = [sys.executable, "-m", "orchestrator.cli", *argv]
    if not terminal:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, check=False)
        return done.returncode, done.stderr.decode()
    controller, child_end = pty.openpty()
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=child_end)
    os.close(child_end)
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
    assert child.stdout is not None
    child.stdout.read()
    return child.wait(60), drawn.decode()


@pytest.mark.parametrize(("argv", "what"), [(["verify"], "verify"), (["audit"], "audit")])
def test_a_bar_on_a_terminal_and_none_in_a_pipe(
    store: ScratchDb, argv: list[str], what: str
) -> None:
    code, drawn = run(argv, store, terminal=True)
    assert code == 0, drawn
    assert f"\r\x1b[K{what} [####################] 100%" in drawn
    assert "events" in drawn
    assert "ETA" in drawn
    code, piped = run(argv, store, terminal=False)
    assert code == 0, piped
    assert f"{what} [" not in piped
    assert "\r" not in piped


def test_the_offline_verify_of_an_export_draws_its_bar(store: ScratchDb, tmp_path: Path) -> None:
    keys = generate_key_pair(tmp_path / "keys")
    export = tmp_path / "store.jsonl"
    with export.open("wb") as out:
        export_store(store.app, out, load_private_key(keys.private), ExportSelection())
    argv = ["verify", "--file", str(export), "--public-key", str(keys.public)]
    code, drawn = run(argv, store, terminal=True)
    assert code == 0, drawn
    assert "\r\x1b[Kverify [####################] 100%" in drawn
    assert "lines" in drawn
