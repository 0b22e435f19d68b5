"""The inbox contract against PostgresInbox on a scratch database of the real server, and the
upgrade of an inbox table created by the release before step keys."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from orchestrator import headers as h
from orchestrator.codec import Codec
from orchestrator.participant import Inbox, PostgresInbox
from orchestrator.saga import step_key_for
from tests.conftest import PgUrls
from tests.inbox_contract import SAGA, STEP, InboxContract, Service, command_record
from tests.support import ScratchDb, eventually, scratch_database

# The table exactly as the release before step keys created it.
FIRST_RELEASE_DDL = """
CREATE TABLE participant_inbox (
    consumer      text        NOT NULL,
    message_id    text        NOT NULL,
    reply_topic   text,
    reply_key     bytea,
    reply_value   bytea,
    reply_headers jsonb,
    handled_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
)
"""


@pytest.fixture
def db(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    with scratch_database(pg_urls, migrated=False) as scratch:
        yield scratch


class TestPostgresInbox(InboxContract):
    @pytest.fixture(autouse=True)
    def _database(self, db: ScratchDb) -> Iterator[None]:
        self.db = db
        self.inboxes: list[PostgresInbox] = []
        yield
        for inbox in self.inboxes:
            inbox.close()

    def new_inbox(self) -> Inbox:
        inbox = PostgresInbox(self.db.owner, consumer="credit")
        self.inboxes.append(inbox)
        return inbox

    def wait_until_blocked(self) -> None:
        """Until a session of this database waits for another transaction's lock."""
        with psycopg.connect(self.db.superuser, autocommit=True) as conn:

            def waiting() -> int:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND wait_event_type = 'Lock' AND query LIKE %s",
                    [self.db.name, 'INSERT INTO "participant_inbox"%'],
                ).fetchone()
                return 0 if row is None else int(row[0])

            eventually(
                waiting,
                "a transaction waiting for the held one (sessions waiting)",
                until=lambda count: count > 0,
                timeout=15,
                interval=0.02,
            )


def test_a_table_of_the_first_release_is_upgraded_in_place_and_its_rows_honoured(
    db: ScratchDb,
) -> None:
    codec = Codec(SchemaRegistryClient.new_client({"url": "mock://inbox-upgrade"}))
    handled_before = command_record(1, codec=codec)
    with psycopg.connect(db.owner, autocommit=True) as conn:
        conn.execute(FIRST_RELEASE_DDL)
        # The first release marked a command handled, without a reply, by its message id.
        conn.execute(
            "INSERT INTO participant_inbox (consumer, message_id) VALUES ('credit', %s)",
            [handled_before.header(h.MESSAGE_ID)],
        )
    inbox = PostgresInbox(db.owner, consumer="credit")
    try:
        service = Service(inbox, codec)
        replies, failed = service.handle(handled_before)
        assert (replies, failed, service.executed) == ([], [], [])
        service.handle(command_record(1, codec=codec, saga_id="another-saga"))
        assert len(service.executed) == 1
    finally:
        inbox.close()
    with psycopg.connect(db.owner, autocommit=True) as conn:
        columns = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'participant_inbox'"
            )
        }
    assert {"tombstone", "command_message_id"} <= columns
    assert "fillfactor=30" in reloptions(db)  # room for the reply updates of its new pages


def test_a_first_intent_execute_writes_one_row_and_updates_it_in_place(db: ScratchDb) -> None:
    """The common command's cost: one row claims, guards and, updated, records the reply."""
    codec = Codec(SchemaRegistryClient.new_client({"url": "mock://inbox-one-row"}))
    inbox = PostgresInbox(db.owner, consumer="credit")
    try:
        (reply,), _ = Service(inbox, codec).handle(command_record(1, codec=codec))
    finally:
        inbox.close()
    with psycopg.connect(db.owner, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT message_id, tombstone, command_message_id, reply_value FROM participant_inbox"
        ).fetchall()
    step_key = step_key_for(SAGA, STEP, compensation=False)
    assert rows == [(step_key, False, reply.message_id, reply.value)]
    # Pages keep room for that update, so it stays on the page (HOT: no new index entry).
    assert "fillfactor=30" in reloptions(db)


def reloptions(db: ScratchDb) -> list[str]:
    with psycopg.connect(db.owner, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(reloptions, '{}') FROM pg_class "
            "WHERE oid = 'participant_inbox'::regclass"
        ).fetchone()
    assert row is not None
    return list(row[0])
