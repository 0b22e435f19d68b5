"""The PostgreSQL adapters of the runtime's ports against the shared contracts."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from event_store import CheckpointStore, EventStore, advisory_locks
from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from orchestrator.projections import PostgresProjector
from orchestrator.runtime import (
    CommandLog,
    LeaderLease,
    PostgresLeaderLease,
    PostgresOutboxBacklog,
    PostgresTimers,
)
from tests.checkpoint_contract import CheckpointContract
from tests.command_log_contract import CommandLogContract
from tests.conftest import PgUrls
from tests.leader_lease_contract import LeaderLeaseContract, Leases
from tests.outbox_backlog_contract import SUBSCRIPTION, BacklogWorld, OutboxBacklogContract
from tests.support import ScratchDb
from tests.timers_contract import REGISTRY, TimersContract, TimersWorld


def _settle(store: EventStore) -> None:
    assert isinstance(store, PostgresEventStore)
    assert store.wait_until_readable(), "another transaction held read_all back for 30 s"


class TestPostgresCommandLog(CommandLogContract):
    @pytest.fixture
    def log(self, clean_db: ScratchDb) -> Iterator[tuple[EventStore, CommandLog]]:
        with PostgresEventStore(clean_db.app) as store:
            yield store, store

    def settle(self, store: EventStore) -> None:
        _settle(store)


class TestPostgresCheckpoints(CheckpointContract):
    @pytest.fixture
    def checkpoints(self, clean_db: ScratchDb) -> Iterator[CheckpointStore]:
        with PostgresCheckpointStore(clean_db.app) as checkpoints:
            yield checkpoints


class TestPostgresLeaderLease(LeaderLeaseContract):
    @pytest.fixture
    def leases(self, pg_urls: PgUrls) -> Iterator[Leases]:
        self._superuser = pg_urls.superuser
        made: list[PostgresLeaderLease] = []

        def lease(group: str) -> LeaderLease:
            made.append(PostgresLeaderLease(pg_urls.app, group, confirm_every_s=0.5))
            return made[-1]

        yield lease
        for each in made:
            each.release()

    def lose(self, lease: LeaderLease) -> None:
        # The server ends the holder's session, as when its machine vanished.
        assert isinstance(lease, PostgresLeaderLease)
        with psycopg.connect(self._superuser, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted AND objsubid = 2 AND classid = %s"
                " AND objid::bigint = (hashtext(%s)::bigint & 4294967295)",
                (advisory_locks.OUTBOX_RELAY_LEADER_CLASS, lease.consumer_group),
            )


class TestPostgresOutboxBacklog(OutboxBacklogContract):
    @pytest.fixture
    def world(self, clean_db: ScratchDb) -> Iterator[BacklogWorld]:
        with PostgresEventStore(clean_db.app) as store, PostgresCheckpointStore(clean_db.app) as ck:
            yield BacklogWorld(
                store, ck, lambda cap: PostgresOutboxBacklog(clean_db.app, SUBSCRIPTION, cap=cap)
            )


class TestPostgresTimers(TimersContract):
    @pytest.fixture
    def world(self, clean_db: ScratchDb) -> Iterator[TimersWorld]:
        with (
            PostgresEventStore(clean_db.app) as store,
            PostgresProjector(clean_db.app, registry=REGISTRY) as proj,
        ):
            timers = PostgresTimers(clean_db.app, store)

            def settle() -> None:
                _settle(store)
                proj.catch_up()

            yield TimersWorld(store, timers, settle)
            timers.close()
