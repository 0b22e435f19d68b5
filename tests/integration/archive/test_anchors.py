"""Anchors against the real database and broker: the three tamperings a hash chain alone cannot
see (done as the superuser with triggers disabled) are three distinct findings of `db verify`,
and the worker's leader writes anchors on its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

# confluent-kafka's admin package re-exports ConfigResource without listing it in its __all__.
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from event_store import NewEvent, canonical_json
from event_store.postgres import PostgresEventStore
from event_store.verify import expected_hash
from orchestrator.archive import (
    ANCHOR_TOPIC_CONFIG,
    AnchorTarget,
    FindingKind,
    check_anchor,
    write_anchor,
)
from orchestrator.cli import sagactl
from tests.integration.archive.conftest import Keys
from tests.support import ScratchDb

STREAMS = ("s-1", "s-2", "s-3", "s-4")


def tamper(db: ScratchDb, *statements: tuple[str, list[object]]) -> None:
    with psycopg.connect(db.superuser) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        for statement, params in statements:
            conn.execute(statement, params)


def rewrite_tail(db: ScratchDb, store: PostgresEventStore) -> None:
    """Change s-1's newest event and recompute its hash: the chain still verifies."""
    *earlier, last = store.read_stream("s-1")
    forged = replace(last, data={"n": 999})
    new_hash = expected_hash(earlier[-1].hash, forged)
    tamper(
        db,
        (
            "UPDATE events SET data = %s::jsonb, hash = %s "
            "WHERE stream_id = 's-1' AND version = %s",
            [canonical_json(forged.data), new_hash, last.version],
        ),
    )


def remove_stream(db: ScratchDb, store: PostgresEventStore) -> None:
    tamper(db, ("DELETE FROM events WHERE stream_id = 's-2'", []))


def remove_event(db: ScratchDb, store: PostgresEventStore) -> None:
    tamper(db, ("DELETE FROM events WHERE stream_id = 's-3' AND version = 5", []))


def _db_verify(
    db: ScratchDb, bootstrap: str, topic: str, public: Path, command: tuple[str, ...] = ("db",)
) -> tuple[int, str, str]:
    done = CliRunner().invoke(
        sagactl,
        [*command, "verify", "--public-key", str(public), "--output", "json"],
        env={
            "SAGA_DATABASE_URL": db.app,
            "SAGA_KAFKA_BOOTSTRAP": bootstrap,
            "SAGA_ANCHOR_TOPIC": topic,
        },
    )
    return done.exit_code, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("attack", "kind", "stream", "version"),
    [
        (rewrite_tail, FindingKind.REWRITTEN_TAIL, "s-1", 5),
        (remove_stream, FindingKind.REMOVED_STREAM, "s-2", 5),
        (remove_event, FindingKind.REMOVED_EVENT, "s-3", 5),
    ],
    ids=["rewritten-tail", "removed-stream", "removed-event"],
)
def test_each_tampering_the_chain_misses_is_its_own_finding(
    *,
    fresh_db: ScratchDb,
    kafka_bootstrap: str,
    anchor_topic: str,
    keys: Keys,
    attack: Callable[[ScratchDb, PostgresEventStore], None],
    kind: FindingKind,
    stream: str,
    version: int,
) -> None:
    target = AnchorTarget(kafka_bootstrap, anchor_topic)
    with PostgresEventStore(fresh_db.app) as store:
        for stream_id in STREAMS:
            store.append(stream_id, "order", 0, [NewEvent("E", {"n": n}) for n in range(5)])
        anchor, offset = write_anchor(fresh_db.app, target, keys.private)
        assert (offset, len(anchor.heads), anchor.events) == (0, 4, 20)
        # History that only grew since the anchor is no finding.
        store.append("s-4", "order", 5, [NewEvent("E", {"n": 5})])
        store.append("s-5", "order", 0, [NewEvent("E", {"n": 0})])
        assert check_anchor(fresh_db.app, target, keys.private.public_key()).findings == []
        code, _, stderr = _db_verify(fresh_db, kafka_bootstrap, anchor_topic, keys.files.public)
        assert code == 0, stderr

        attack(fresh_db, store)
        # The hash chains alone see nothing wrong: that is what anchors are for.
        assert store.verify().ok

    [finding] = check_anchor(fresh_db.app, target, keys.private.public_key()).findings
    assert (finding.kind, finding.stream_id, finding.version) == (kind, stream, version)

    code, stdout, stderr = _db_verify(fresh_db, kafka_bootstrap, anchor_topic, keys.files.public)
    assert code == 1
    report = json.loads(stdout)
    assert report["ok"] is False
    assert [(f["finding"], f["stream_id"]) for f in report["anchor_findings"]] == [
        (kind.value, stream)
    ]
    [error] = [line for line in stderr.splitlines() if line.startswith("sagactl: ")]
    assert f"{kind.value} {stream}" in error
    # `sagactl verify` without --file is the same check of the store.
    code, stdout, _ = _db_verify(fresh_db, kafka_bootstrap, anchor_topic, keys.files.public, ())
    assert code == 1
    assert json.loads(stdout)["anchor_findings"][0]["finding"] == kind.value


def test_db_anchor_and_a_forged_anchor(
    fresh_db: ScratchDb, kafka_bootstrap: str, anchor_topic: str, keys: Keys, other_keys: Keys
) -> None:
    env = {
        "SAGA_DATABASE_URL": fresh_db.app,
        "SAGA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SAGA_ANCHOR_TOPIC": anchor_topic,
    }
    with PostgresEventStore(fresh_db.app) as store:
        store.append("s-1", "order", 0, [NewEvent("E", {"n": 1})])
    done = CliRunner().invoke(
        sagactl,
        ["db", "anchor", "--key-file", str(keys.files.private), "--output", "json"],
        env=env,
    )
    assert done.exit_code == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["streams"], row["events"], row["signer"]) == (1, 1, keys.files.fingerprint)
    # The topic keeps every anchor for ever and never compacts one away.
    resource = ConfigResource("topic", anchor_topic)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    configs = admin.describe_configs([resource])[resource].result(30)
    assert {name: configs[name].value for name in ANCHOR_TOPIC_CONFIG} == ANCHOR_TOPIC_CONFIG
    assert configs["cleanup.policy"].value == "delete"
    assert configs["retention.ms"].value == "-1"

    # Someone without the key appends an anchor of their own: db verify refuses to trust it.
    done = CliRunner().invoke(
        sagactl, ["db", "anchor", "--key-file", str(other_keys.files.private)], env=env
    )
    assert done.exit_code == 0, done.stderr
    code, stdout, stderr = _db_verify(fresh_db, kafka_bootstrap, anchor_topic, keys.files.public)
    assert (code, stdout) == (1, "")
    assert "signature does not hold" in stderr
    assert stderr.count("\n") == 1
