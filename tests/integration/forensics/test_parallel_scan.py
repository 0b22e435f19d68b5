"""Whole-store scans split over processes (`--jobs`) find exactly what one process finds: the
same counts, the same broken chain, the same violations, over a store large enough to be
sliced (load_tests/_bulk_sagas.py writes its decided, chained histories)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from load_tests._bulk_sagas import fill
from orchestrator.archive import verify_store
from orchestrator.archive._scan import PARALLEL_FROM
from orchestrator.forensics.audit_store import audit_store
from orchestrator.saga import SagaRegistry
from sagas.order_fulfilment import OrderFulfilment
from tests.conftest import PgUrls
from tests.support import ScratchDb, scratch_database


@pytest.fixture(scope="module")
def large_store(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    with scratch_database(pg_urls) as db:
        fill(db.app, db.owner, PARALLEL_FROM)
        yield db


def _tamper(db: ScratchDb) -> str:
    """One event of a saga late in stream order altered, as the superuser."""
    with psycopg.connect(db.superuser) as conn, conn.transaction():
        row = conn.execute(
            "SELECT stream_id FROM events WHERE version = 1 "
            "ORDER BY stream_id DESC LIMIT 1 OFFSET 7"
        ).fetchone()
        assert row is not None
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE events SET metadata = metadata || '{\"x\": 1}' "
            "WHERE stream_id = %s AND version = 2",
            [row[0]],
        )
        conn.execute("ALTER TABLE events ENABLE TRIGGER USER")
    return str(row[0])


@pytest.mark.timeout(900)
def test_sliced_scans_find_what_one_scan_finds(large_store: ScratchDb) -> None:
    one = verify_store(large_store.app, jobs=1)
    assert one.ok
    assert one.events_checked >= PARALLEL_FROM
    assert verify_store(large_store.app, jobs=3) == one

    altered = _tamper(large_store)
    broken = verify_store(large_store.app, jobs=3)
    assert [(b.stream_id, b.version) for b in broken.breaks] == [(altered, 2)]
    assert broken == verify_store(large_store.app, jobs=1)

    registry = SagaRegistry([OrderFulfilment])
    now, grace = datetime.now(UTC), timedelta(minutes=5)
    sliced = audit_store(large_store.app, registry, now, grace, jobs=3)
    assert (sliced.streams, sliced.events) == (one.streams_checked, one.events_checked)
    assert [(v.saga_id, v.invariant.value) for v in sliced.violations] == [(altered, "chain")]
    assert sliced.violations == audit_store(large_store.app, registry, now, grace).violations
