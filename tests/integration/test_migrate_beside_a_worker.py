"""`sagactl db migrate` (run by `make up`, the demo and the helm hook) must never wait for a
running worker: it once did, because the two advisory-lock keys were the same number."""

from __future__ import annotations

import threading
import uuid

import psycopg

from event_store import advisory_locks
from event_store.migrations import migrate
from orchestrator.runtime import PostgresLeaderLease as LeaderLease
from tests.conftest import PgUrls


def test_migrate_completes_while_a_worker_leads(pg_urls: PgUrls) -> None:
    lease = LeaderLease(pg_urls.app, f"migrate-test-{uuid.uuid4().hex[:8]}")
    try:
        assert lease.holds(), "a fresh consumer group's lease is free"
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            held = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 2 AND classid = %s",
                (advisory_locks.OUTBOX_RELAY_LEADER_CLASS,),
            ).fetchone()
        assert held is not None
        assert held[0] >= 1, "a relay leader's lock should be held during this test"
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                migrate(pg_urls.owner)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, daemon=True).start()
        assert done.wait(20), "migrate blocked while the relay leader's lease was held"
        assert errors == []
    finally:
        lease.release()
