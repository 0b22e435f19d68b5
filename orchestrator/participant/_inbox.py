"""The participant's inbox: which command message ids it has handled, and the reply it sent.

Recording a command and running its handler happen in ONE transaction of the participant's own
database, so a command's effects and its "handled" mark commit together or not at all. The
stored reply is sent again when the command is redelivered (the first send may have been lost
in a crash after the commit), so the orchestrator always hears exactly the same answer.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import sql

from orchestrator.runtime._record import Headers

Connection = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class StoredReply:
    message_id: str  # the command's message id
    topic: str
    key: bytes
    value: bytes
    headers: Headers


class InboxTransaction(Protocol):
    @property
    def connection(self) -> Connection | None:
        """The participant database connection a handler may use for its own writes
        (None for the in-memory inbox)."""
        ...

    def seen(self, message_ids: Sequence[str]) -> dict[str, StoredReply | None]:
        """The already-handled ones among `message_ids`, each with its stored reply."""
        ...

    def handling(self) -> AbstractContextManager[None]:
        """A savepoint around one handler call: a failing handler undoes only its own writes."""
        ...

    def record(self, handled: Sequence[tuple[str, StoredReply | None]]) -> None:
        """Mark these command ids handled, each with the reply it was answered with."""
        ...


class Inbox(Protocol):
    def transaction(self) -> AbstractContextManager[InboxTransaction]: ...


# --------------------------------------------------------------------------- PostgreSQL

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
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


_DDL_LOCK = "participant_inbox_ddl"


def _headers_to_json(headers: Headers) -> str:
    return json.dumps([[k, base64.b64encode(v).decode()] for k, v in headers])


def _headers_from_json(value: Any) -> Headers:
    pairs = json.loads(value) if isinstance(value, str) else value
    return [(str(k), base64.b64decode(v)) for k, v in pairs]


class _PostgresTransaction:
    def __init__(self, conn: Connection, consumer: str, table: sql.Identifier) -> None:
        self._conn = conn
        self._consumer = consumer
        self._table = table

    @property
    def connection(self) -> Connection | None:
        return self._conn

    def seen(self, message_ids: Sequence[str]) -> dict[str, StoredReply | None]:
        if not message_ids:
            return {}
        rows = self._conn.execute(
            sql.SQL(
                "SELECT message_id, reply_topic, reply_key, reply_value, reply_headers "
                "FROM {} WHERE consumer = %s AND message_id = ANY(%s)"
            ).format(self._table),
            (self._consumer, list(message_ids)),
        ).fetchall()
        found: dict[str, StoredReply | None] = {}
        for message_id, topic, key, value, headers in rows:
            found[message_id] = (
                None
                if topic is None
                else StoredReply(
                    message_id, topic, bytes(key), bytes(value), _headers_from_json(headers)
                )
            )
        return found

    @contextmanager
    def handling(self) -> Iterator[None]:
        with self._conn.transaction():  # nested: a SAVEPOINT
            yield

    def record(self, handled: Sequence[tuple[str, StoredReply | None]]) -> None:
        if not handled:
            return
        with self._conn.cursor() as cursor:
            # executemany pipelines the rows: one round trip for the batch, not one per row.
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {} (consumer, message_id, reply_topic, reply_key, reply_value, "
                    "reply_headers) VALUES (%s, %s, %s, %s, %s, %s)"
                ).format(self._table),
                [
                    (
                        self._consumer,
                        message_id,
                        reply.topic if reply else None,
                        reply.key if reply else None,
                        reply.value if reply else None,
                        _headers_to_json(reply.headers) if reply else None,
                    )
                    for message_id, reply in handled
                ],
            )


class PostgresInbox:
    """Inbox in the participant's own PostgreSQL database (table created if missing)."""

    def __init__(self, conninfo: str, consumer: str, *, table: str = "participant_inbox") -> None:
        self._conninfo = conninfo
        self._consumer = consumer
        self._table = sql.Identifier(table)
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            # CREATE TABLE IF NOT EXISTS is not safe against itself: two inboxes starting at
            # once (the three services of `sagactl participant`) can both try to create the
            # table, and one fails on pg_type's unique index. Serialise them.
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_DDL_LOCK])
                conn.execute(sql.SQL(_DDL).format(table=self._table))
            self._conn = conn
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[InboxTransaction]:
        conn = self._connection()
        try:
            # Pipeline mode: the handlers' writes and the inbox rows go out without waiting
            # for each result; the commit is the only synchronous round trip.
            with conn.transaction(), conn.pipeline():
                yield _PostgresTransaction(conn, self._consumer, self._table)
        except psycopg.OperationalError:
            # A broken connection is replaced on next use; the caller retries the batch.
            conn.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


# --------------------------------------------------------------------------- in memory


class _MemoryTransaction:
    def __init__(self, committed: dict[str, StoredReply | None]) -> None:
        self._committed = committed
        self.pending: dict[str, StoredReply | None] = {}

    @property
    def connection(self) -> Connection | None:
        return None

    def seen(self, message_ids: Sequence[str]) -> dict[str, StoredReply | None]:
        return {m: self._committed[m] for m in message_ids if m in self._committed}

    @contextmanager
    def handling(self) -> Iterator[None]:
        yield

    def record(self, handled: Sequence[tuple[str, StoredReply | None]]) -> None:
        self.pending.update(handled)


class MemoryInbox:
    """For tests and for participants whose handlers are naturally idempotent."""

    def __init__(self) -> None:
        self._committed: dict[str, StoredReply | None] = {}
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[InboxTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self._committed)
            yield tx
            self._committed.update(tx.pending)

    def close(self) -> None:
        return None
