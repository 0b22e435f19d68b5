"""The stack a world runs on: in memory by default; PostgreSQL and Kafka with
SAGA_TEST_STACK=real (a private database and topics per test, as the worker tests have)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from event_store.postgres import PostgresCheckpointStore, PostgresEventStore
from orchestrator.config import Settings
from orchestrator.participant import PostgresInbox
from orchestrator.projections import PostgresProjector
from orchestrator.runtime import LeaderPorts, build_codec, load_sagas
from orchestrator.saga import SagaRegistry
from orchestrator.world import Stack, VirtualClock, memory_stack
from sagas.order_services import EFFECTS_DDL
from tests.conftest import PgUrls

REAL = os.environ.get("SAGA_TEST_STACK", "memory") == "real"
MakeStack = Callable[[VirtualClock], Stack]


@pytest.fixture
def suffix() -> str:
    return f"w{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime.now(UTC))


@pytest.fixture
def make_stack(request: pytest.FixtureRequest, suffix: str) -> Iterator[MakeStack]:
    if not REAL:
        yield memory_stack
        return
    pg_urls: PgUrls = request.getfixturevalue("pg_urls")
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    from tests.support import scratch_database

    with scratch_database(pg_urls) as db:
        with psycopg.connect(db.owner, autocommit=True) as conn:
            conn.execute(EFFECTS_DDL)

        def real_stack(clock: VirtualClock) -> Stack:
            settings = Settings(
                database_url=db.app,
                kafka_bootstrap=bootstrap,
                consumer_group=f"world-{suffix}",
                topic_partitions=2,
                batch_max_wait_ms=5,
                anchor_interval_s=0,
            )
            store = PostgresEventStore(db.app)
            checkpoints = PostgresCheckpointStore(db.app)
            projector = PostgresProjector(db.app, registry=SagaRegistry(load_sagas(settings.sagas)))
            inboxes: list[PostgresInbox] = []

            def inbox(name: str) -> PostgresInbox:
                inboxes.append(PostgresInbox(db.owner, consumer=name))
                return inboxes[-1]

            def close() -> None:
                for each in inboxes:
                    each.close()
                projector.close()
                checkpoints.close()
                store.close()

            return Stack(
                settings,
                store,
                checkpoints,
                LeaderPorts.postgres(settings, store, checkpoints),
                build_codec(settings),
                inbox=inbox,
                projector_poll=projector.run_once,
                closers=[close],
            )

        yield real_stack
