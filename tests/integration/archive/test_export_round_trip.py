"""Sagas run for real, exported, imported into a fresh database: every stream verifies and
replays to the same state; a tampered export or a non-empty target is refused, and nothing is
written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from orchestrator.archive import (
    ExportSelection,
    NotEmptyError,
    export_store,
    import_export,
    verify_export_file,
)
from orchestrator.cli import sagactl
from sagas.order_services import Behaviour
from tests.conftest import PgUrls
from tests.integration.archive.conftest import Keys
from tests.integration.worker.conftest import World
from tests.support import ScratchDb, scratch_database


def _event_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _columns(store: PostgresEventStore, stream_id: str) -> list[tuple[object, ...]]:
    return [
        (e.stream_id, e.stream_type, e.version, e.event_type, e.schema_version, e.data,
         e.metadata, e.recorded_at, e.hash)
        for e in store.read_stream(stream_id)
    ]  # fmt: skip


def test_real_sagas_survive_export_and_import(
    world: World, pg_urls: PgUrls, keys: Keys, tmp_path: Path
) -> None:
    world.start_participants(shipping=Behaviour(failure_rate=0.5))
    world.start_worker()
    saga_ids = world.start_orders(8)
    statuses = world.wait_for(saga_ids)
    assert {"completed", "compensated"} <= set(statuses.values()), statuses

    path = tmp_path / "all.jsonl"
    with path.open("wb") as out:
        header = export_store(world.app_url, out, keys.private, ExportSelection())
    assert header.streams == len(saga_ids)
    assert header.events == _event_count(world.app_url)
    assert verify_export_file(path, keys.private.public_key()).events == header.events

    with scratch_database(pg_urls) as target:
        result = import_export(target.app, path, keys.private.public_key())
        assert result.imported == header.events
        assert result.verify.ok
        assert result.verify.events_checked == header.events
        with PostgresEventStore(world.app_url) as source, PostgresEventStore(target.app) as copy:
            for saga_id in saga_ids:
                assert _columns(copy, saga_id) == _columns(source, saga_id), saga_id
                before = world.registry.replay(source.read_stream(saga_id))
                after = world.registry.replay(copy.read_stream(saga_id))
                assert before is not None
                assert after == before, saga_id
            assert copy.verify().ok

        # A second import into the now non-empty store is refused before anything is read.
        with pytest.raises(NotEmptyError):
            import_export(target.app, path, keys.private.public_key())
        assert _event_count(target.app) == header.events

        # One saga, by the command line: its header says what was selected.
        one = tmp_path / "one.jsonl"
        done = CliRunner().invoke(
            sagactl,
            ["export", "--saga", saga_ids[0], "--key-file", str(keys.files.private)],
            env={"SAGA_DATABASE_URL": world.app_url},
        )
        assert done.exit_code == 0, done.stderr
        one.write_bytes(done.stdout_bytes)
        first = json.loads(one.read_bytes().splitlines()[0])
        assert first["selection"] == {"saga": saga_ids[0]}
        assert list(first["heads"]) == [saga_ids[0]]
        assert verify_export_file(one, keys.private.public_key()).streams == 1


def _export(db: ScratchDb, keys: Keys, path: Path) -> list[bytes]:

    with PostgresEventStore(db.app) as store:
        for stream in ("s-1", "s-2"):
            store.append(stream, "order", 0, [NewEvent("E", {"n": n}) for n in range(3)])
    with path.open("wb") as out:
        export_store(db.app, out, keys.private, ExportSelection())
    return path.read_bytes().splitlines(keepends=True)


def _import(target: ScratchDb, path: Path, public: Path) -> tuple[int, str, str]:
    done = CliRunner().invoke(
        sagactl,
        ["import", str(path), "--public-key", str(public)],
        env={"SAGA_DATABASE_URL": target.app},
    )
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda lines: [lines[0], lines[1].replace(b'"n":0', b'"n":7'), *lines[2:]],
            "line 2: stream s-1 version 1: hash mismatch",
        ),
        (
            lambda lines: [lines[0], *lines[2:]],
            "line 2: stream s-1 version 2: version 1 is missing",
        ),
        (
            lambda lines: [*lines[:-2], lines[-1]],
            "the header promises 2 stream(s) and 6 event(s); the file holds 2 and 5",
        ),
    ],
    ids=["one-byte-changed", "line-removed", "newest-event-removed"],
)
def test_import_refuses_a_tampered_export_and_writes_nothing(
    *,
    fresh_db: ScratchDb,
    pg_urls: PgUrls,
    keys: Keys,
    tmp_path: Path,
    tamper: Callable[[list[bytes]], list[bytes]],
    reason: str,
) -> None:
    lines = _export(fresh_db, keys, tmp_path / "good.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(tamper(lines)))
    with scratch_database(pg_urls) as target:
        code, stdout, stderr = _import(target, bad, keys.files.public)
        assert (code, stdout) == (1, "")
        assert stderr.count("\n") == 1, stderr
        assert reason in stderr, stderr
        assert "nothing was written" in stderr
        assert _event_count(target.app) == 0


def test_import_and_verify_refuse_the_signature_of_another_key(
    fresh_db: ScratchDb, pg_urls: PgUrls, keys: Keys, other_keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    _export(fresh_db, other_keys, path)
    wanted = f"signed by key {other_keys.files.fingerprint}, not by the given public key "
    with scratch_database(pg_urls) as target:
        code, _, stderr = _import(target, path, keys.files.public)
        assert code == 1
        assert wanted in stderr
        assert _event_count(target.app) == 0
    offline = CliRunner().invoke(
        sagactl, ["verify", "--file", str(path), "--public-key", str(keys.files.public)]
    )
    assert offline.exit_code == 1
    assert wanted in offline.stderr
    good = CliRunner().invoke(
        sagactl,
        ["verify", "--file", str(path), "--public-key", str(other_keys.files.public),
         "--output", "json"],
    )  # fmt: skip
    assert good.exit_code == 0, good.stderr
    assert json.loads(good.stdout)[0]["events"] == 6


def test_export_of_an_unknown_saga_is_one_line_and_no_output(
    fresh_db: ScratchDb, keys: Keys
) -> None:
    done = CliRunner().invoke(
        sagactl,
        ["export", "--saga", "nope-1", "--key-file", str(keys.files.private)],
        env={"SAGA_DATABASE_URL": fresh_db.app},
    )
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr == "sagactl: export: no saga nope-1 in the store\n"


def test_import_refuses_a_non_empty_store_in_one_line(
    fresh_db: ScratchDb, keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    _export(fresh_db, keys, path)
    code, stdout, stderr = _import(fresh_db, path, keys.files.public)
    assert (code, stdout) == (1, "")
    assert stderr == (
        "sagactl: import: the target store holds events; import only into an empty one\n"
    )


def test_export_by_type_and_start_window(fresh_db: ScratchDb, keys: Keys, tmp_path: Path) -> None:
    with PostgresEventStore(fresh_db.app) as store:
        store.append("o-1", "order", 0, [NewEvent("E", {"n": 1})])
        store.append("t-1", "trip", 0, [NewEvent("E", {"n": 1})])
        [middle] = store.read_stream("t-1")
        store.append("o-2", "order", 0, [NewEvent("E", {"n": 1})])
        store.append("o-1", "order", 1, [NewEvent("E", {"n": 2})])

    def heads(*options: str) -> dict[str, object]:
        done = CliRunner().invoke(
            sagactl,
            ["export", *options, "--key-file", str(keys.files.private)],
            env={"SAGA_DATABASE_URL": fresh_db.app},
        )
        assert done.exit_code == 0, done.stderr
        path = tmp_path / "e.jsonl"
        path.write_bytes(done.stdout_bytes)
        summary = verify_export_file(path, keys.private.public_key())
        return {h.stream_id: h.version for h in summary.header.heads}

    assert heads("--type", "order") == {"o-1": 2, "o-2": 1}
    since = middle.recorded_at.isoformat()
    # Started at or after t-1's first event: t-1 and o-2 (o-1 started before, whatever it
    # appended since).
    assert heads("--since", since) == {"t-1": 1, "o-2": 1}
    assert heads("--until", since) == {"o-1": 2}
    assert heads("--type", "order", "--since", since) == {"o-2": 1}
    assert heads() == {"o-1": 2, "t-1": 1, "o-2": 1}
