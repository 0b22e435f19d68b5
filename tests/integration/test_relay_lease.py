"""The outbox relay's leader lease: one holder per consumer group, taken over when the holder's
session ends, and re-confirmed at a bounded interval rather than on every relay poll."""

from __future__ import annotations

import uuid

import psycopg

from event_store import advisory_locks
from orchestrator.runtime import PostgresLeaderLease as LeaderLease
from tests.conftest import PgUrls
from tests.support import eventually

HOLDER_SQL = """
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2
  AND classid = %s AND objid::bigint = (hashtext(%s)::bigint & 4294967295)
"""


def holder(superuser: str, group: str) -> int | None:
    with psycopg.connect(superuser, autocommit=True) as conn:
        row = conn.execute(HOLDER_SQL, (advisory_locks.OUTBOX_RELAY_LEADER_CLASS, group)).fetchone()
    return int(row[0]) if row else None


def terminate(superuser: str, pid: int) -> None:
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_one_leader_per_group_and_a_lost_session_hands_the_lease_over(pg_urls: PgUrls) -> None:
    group = f"lease-test-{uuid.uuid4().hex[:8]}"
    first = LeaderLease(pg_urls.app, group, confirm_every_s=0.5)
    second = LeaderLease(pg_urls.app, group, confirm_every_s=0.5)
    other_group = LeaderLease(pg_urls.app, f"{group}-other")
    try:
        assert first.holds()
        assert not second.holds()
        assert other_group.holds(), "each consumer group has a lease of its own"
        pid = holder(pg_urls.superuser, group)
        assert pid is not None
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            row = conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        assert row == ("saga-relay-lease",), "operators can see who holds the lease"

        terminate(pg_urls.superuser, pid)
        eventually(second.holds, "the lease handed over to the second", timeout=10, interval=0.05)
        # The old holder finds out at its next confirmation, within confirm_every_s.
        eventually(
            first.holds,
            "the old leader stopped believing it holds the lease",
            until=lambda holds: not holds,
            timeout=0.5 + 0.5,
            interval=0.05,
        )
        assert second.holds()
    finally:
        for lease in (first, second, other_group):
            lease.release()


def test_a_held_lease_is_not_pinged_on_every_call(pg_urls: PgUrls) -> None:
    group = f"lease-test-{uuid.uuid4().hex[:8]}"
    lease = LeaderLease(pg_urls.app, group, confirm_every_s=60.0)
    try:
        assert lease.holds()
        pid = holder(pg_urls.superuser, group)
        assert pid is not None
        for _ in range(200):
            assert lease.holds()
        # No round trip at all: the session's last statement is still the one that took the
        # lock, not a SELECT 1 per call.
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            row = conn.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
        assert row is not None
        assert row[0].startswith("SELECT pg_try_advisory_lock"), row
    finally:
        lease.release()
