"""The participant's inbox: which steps it has handled, and the reply it sent for each.

A command is deduplicated on its step key (header ``saga_step_key``: one key for every attempt
of one intent of one step, see ``saga._ids.step_key_for``), or on its message id when it has
none (a hand-sent command). Claiming the key, running the handler and recording the reply
happen in ONE transaction of the participant's own database, so a step's effects and its
"handled" mark commit together or not at all, and two participant instances cannot both
execute one step: the second one's claim waits on the first one's row in the unique index,
then finds it taken and answers with the reply recorded there.

Each (saga, step) also has a *guard* row: placed by its execute commands, turned into a
tombstone by its compensation. An execute command that finds a tombstone is refused, so a
compensation that overtakes its command (another topic, a late redelivery) wins. The guard row
is the claim row of the step's first execute intent (epoch 1, the key every attempt carries
unless an operator retried the step): that command, nearly every command a participant gets,
claims, guards and learns whether it was compensated first with one row write, and its reply is
one UPDATE of that row. A guard row no execute has claimed yet (a compensation or a later
intent placed it) is marked so in ``command_message_id`` (``_UNCLAIMED``).

Table shape: the table of the first release keeps working. Its ``message_id`` column now holds
the dedupe key (step key, message id: each a uuid5 of its own namespace, so they never
collide); the ``tombstone`` and ``command_message_id`` columns are added in place (``ALTER
TABLE ... ADD COLUMN IF NOT EXISTS``, under the DDL lock). Rows written by the first release
are keyed by message id and are still honoured as handled (``also_seen``).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import psycopg
from psycopg import sql

from orchestrator.kafka import Headers
from orchestrator.saga import step_key_for

Connection = psycopg.Connection[tuple[Any, ...]]

# Values of command_message_id that are never a message id. A guard row no execute has claimed
# holds _UNCLAIMED (any other value, NULL included, means handled: the rows of the releases
# before this one say so). A claimed guard row holds _CLAIMING until `record` replaces it, so
# the claim statement can tell the rows it claimed from those it only locked or tombstoned; a
# committed row never keeps it, since every claimed key is recorded by its transaction.
_UNCLAIMED: Final = ""
_CLAIMING: Final = "claiming"


def guard_key_for(saga_id: str, step: str) -> str:
    """Key of the row that records whether a step's compensation was handled (tombstone): the
    step key of its first execute intent, so that command's claim row is also the guard."""
    return step_key_for(saga_id, step, compensation=False)


@dataclass(frozen=True, slots=True)
class StoredReply:
    message_id: str  # the message id of the command this reply answers
    topic: str
    key: bytes
    value: bytes
    headers: Headers


@dataclass(frozen=True, slots=True)
class Guard:
    """The guard row of one (saga, step): an execute command places it, a compensation turns
    it into a tombstone. Both lock it, which serialises an execute against a compensation of
    the same step handled at the same time by two instances."""

    key: str
    compensation: bool


@dataclass(frozen=True, slots=True)
class Claims:
    """What `InboxTransaction.claim` found."""

    claimed: frozenset[str]  # keys this transaction now holds: run their handlers, record them
    stored: dict[str, StoredReply | None] = field(default_factory=dict)  # recorded before
    tombstones: frozenset[str] = frozenset()  # guard keys whose step was compensated


class InboxTransaction(Protocol):
    @property
    def connection(self) -> Connection | None:
        """The participant database connection a handler may use for its own writes
        (None for the in-memory inbox)."""
        ...

    def claim(
        self, keys: Sequence[str], *, also_seen: Sequence[str], guards: Sequence[Guard]
    ) -> Claims:
        """Claim `keys` for this transaction and lock `guards`, in a fixed order (no
        deadlock between two instances), waiting for any other transaction that holds one of
        them to end. Returns the keys now held, the replies recorded for the others and for
        `also_seen` (ids that an older release recorded by message id), and the guards that
        are tombstones. Must be the transaction's first call."""
        ...

    def handling(self) -> AbstractContextManager[None]:
        """A savepoint around one handler call: a failing handler undoes only its own writes."""
        ...

    def record(self, handled: Sequence[tuple[str, StoredReply | None]]) -> None:
        """Store, for claimed keys, the reply each was answered with (None: no reply)."""
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
) WITH (fillfactor = {fillfactor})
"""
# Room left in each page for the reply UPDATE of the rows a batch claims there, so that most
# are HOT updates (same page, no new index entry: the reply columns are not indexed). Measured
# with load_tests/bench_inbox.py: 80% HOT at 30 (WAL per command -14%), 55% at 50, ~0 at the
# default 100, where a batch's claims fill the page; the table is no larger, as pruning
# reclaims the claimed versions. An existing table gets it for its new pages, unless it has a
# fillfactor of its own.
_FILLFACTOR: Final = 30
# Added by the step-key release to the table above (which keeps its name, so a table created
# by the first release is upgraded in place; constant defaults make both instant).
_DDL_STEP_KEYS = """
ALTER TABLE {table}
    ADD COLUMN IF NOT EXISTS tombstone boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS command_message_id text
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

    def claim(
        self, keys: Sequence[str], *, also_seen: Sequence[str], guards: Sequence[Guard]
    ) -> Claims:
        if not keys:
            return Claims(frozenset())
        tombstone_of: dict[str, bool] = {}
        for guard in guards:
            tombstone_of[guard.key] = tombstone_of.get(guard.key, False) or guard.compensation
        wanted_keys = set(keys)
        # Up to three statements, one round trip (pipeline mode; results are fetched at the
        # end). READ COMMITTED takes a snapshot per statement, so the SELECT, which runs after
        # the upserts have waited out any other holder of a row, sees what that holder
        # committed. Every instance locks guard rows first, then the other claims, each group
        # in sorted order: no two transactions can wait on each other.
        upserted = None
        if tombstone_of:
            ordered = sorted(tombstone_of)
            # A guard row that is also claimed here (an epoch-1 execute) is inserted claimed,
            # or claimed if no execute has yet (a compensation or a later intent placed it). A
            # compensation's guard turns it into a tombstone. DO UPDATE locks an existing row
            # even when its WHERE is false, so an execute and a compensation of one step always
            # meet on this row: whichever comes second waits until the first commits, and the
            # SELECT below then sees the tombstone. (DO NOTHING would not wait on a row that
            # already exists.) RETURNING gives the inserted and updated rows; those holding
            # _CLAIMING are this transaction's claims.
            upserted = self._conn.execute(
                sql.SQL(
                    "INSERT INTO {t} (consumer, message_id, tombstone, command_message_id) "
                    "SELECT %(consumer)s, k, c, CASE WHEN x THEN %(claiming)s "
                    "ELSE %(unclaimed)s END "
                    "FROM unnest(%(keys)s::text[], %(tombstones)s::boolean[], "
                    "%(claims)s::boolean[]) AS g(k, c, x) "
                    "ORDER BY k "
                    "ON CONFLICT (consumer, message_id) DO UPDATE SET "
                    "tombstone = {t}.tombstone OR EXCLUDED.tombstone, "
                    "command_message_id = CASE WHEN {t}.command_message_id = %(unclaimed)s "
                    "THEN EXCLUDED.command_message_id ELSE {t}.command_message_id END "
                    "WHERE (EXCLUDED.tombstone AND NOT {t}.tombstone) "
                    "OR ({t}.command_message_id = %(unclaimed)s "
                    "AND EXCLUDED.command_message_id = %(claiming)s) "
                    "RETURNING message_id, command_message_id = %(claiming)s"
                ).format(t=self._table),
                {
                    "consumer": self._consumer,
                    "claiming": _CLAIMING,
                    "unclaimed": _UNCLAIMED,
                    "keys": ordered,
                    "tombstones": [tombstone_of[k] for k in ordered],
                    "claims": [k in wanted_keys for k in ordered],
                },
            )
        others = sorted(wanted_keys.difference(tombstone_of))
        inserted = None
        if others:
            inserted = self._conn.execute(
                sql.SQL(
                    "INSERT INTO {} (consumer, message_id) "
                    "SELECT %s, k FROM unnest(%s::text[]) AS k ORDER BY k "
                    "ON CONFLICT DO NOTHING RETURNING message_id"
                ).format(self._table),
                (self._consumer, others),
            )
        wanted = sorted({*keys, *also_seen, *tombstone_of})
        rows = self._conn.execute(
            sql.SQL(
                "SELECT message_id, reply_topic, reply_key, reply_value, reply_headers, "
                "tombstone, command_message_id FROM {} "
                "WHERE consumer = %s AND message_id = ANY(%s)"
            ).format(self._table),
            (self._consumer, wanted),
        ).fetchall()
        claimed: set[str] = set()
        if upserted is not None:
            claimed.update(
                str(key) for key, mine in upserted.fetchall() if mine and key in wanted_keys
            )
        if inserted is not None:
            claimed.update(str(row[0]) for row in inserted.fetchall())
        stored: dict[str, StoredReply | None] = {}
        tombstones: set[str] = set()
        for key, topic, r_key, value, headers, tombstone, command_id in rows:
            if key in tombstone_of and tombstone:
                tombstones.add(key)
            if key in claimed or (key in tombstone_of and command_id == _UNCLAIMED):
                continue  # held by this transaction, or a guard no execute has claimed
            stored[key] = (
                None
                if topic is None
                else StoredReply(
                    command_id or key,
                    topic,
                    bytes(r_key),
                    bytes(value),
                    _headers_from_json(headers),
                )
            )
        return Claims(frozenset(claimed), stored, frozenset(tombstones))

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
                    "UPDATE {} SET reply_topic = %s, reply_key = %s, reply_value = %s, "
                    "reply_headers = %s, command_message_id = %s "
                    "WHERE consumer = %s AND message_id = %s"
                ).format(self._table),
                [
                    (
                        reply.topic if reply else None,
                        reply.key if reply else None,
                        reply.value if reply else None,
                        _headers_to_json(reply.headers) if reply else None,
                        reply.message_id if reply else None,
                        self._consumer,
                        key,
                    )
                    for key, reply in handled
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
                conn.execute(
                    sql.SQL(_DDL).format(table=self._table, fillfactor=sql.Literal(_FILLFACTOR))
                )
                # ALTER TABLE takes an ACCESS EXCLUSIVE lock even when every column exists:
                # queued behind another instance's open transaction, it would stall every
                # inbox transaction behind it. Only a table of the first release needs it.
                row = conn.execute(
                    "SELECT count(*) FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attname IN ('tombstone', 'command_message_id') AND NOT attisdropped",
                    [self._table.as_string(conn)],
                ).fetchone()
                if row is None or row[0] < 2:
                    conn.execute(sql.SQL(_DDL_STEP_KEYS).format(table=self._table))
                # Setting a fillfactor takes SHARE UPDATE EXCLUSIVE, which does not conflict
                # with the ROW EXCLUSIVE of running inbox transactions; still, only when unset.
                row = conn.execute(
                    "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class "
                    "WHERE oid = %s::regclass",
                    [self._table.as_string(conn)],
                ).fetchone()
                if row is None or "fillfactor=" not in row[0]:
                    conn.execute(
                        sql.SQL("ALTER TABLE {} SET (fillfactor = {})").format(
                            self._table, sql.Literal(_FILLFACTOR)
                        )
                    )
            self._conn = conn
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[InboxTransaction]:
        conn = self._connection()
        try:
            # Pipeline mode: the handlers' writes and the inbox rows go out without waiting
            # for each result; the claim and the commit are the only synchronous round trips.
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
    def __init__(self, committed: dict[str, StoredReply | None], tombstones: set[str]) -> None:
        self._committed = committed
        self._tombstones = tombstones
        self._claimed: set[str] = set()
        self.pending: dict[str, StoredReply | None] = {}
        self.new_tombstones: set[str] = set()

    @property
    def connection(self) -> Connection | None:
        return None

    def claim(
        self, keys: Sequence[str], *, also_seen: Sequence[str], guards: Sequence[Guard]
    ) -> Claims:
        # The inbox's lock is held for the whole transaction: nobody else can hold a key.
        self._claimed = {k for k in keys if k not in self._committed}
        # A claimed key counts as handled (with no reply) until `record` says otherwise,
        # as the PostgreSQL inbox's claimed row does.
        self.pending.update(dict.fromkeys(self._claimed))
        stored = {
            k: self._committed[k]
            for k in (*keys, *also_seen)
            if k in self._committed and k not in self._claimed
        }
        self.new_tombstones = {g.key for g in guards if g.compensation}
        tombstones = {g.key for g in guards} & (self._tombstones | self.new_tombstones)
        return Claims(frozenset(self._claimed), stored, frozenset(tombstones))

    @contextmanager
    def handling(self) -> Iterator[None]:
        yield

    def record(self, handled: Sequence[tuple[str, StoredReply | None]]) -> None:
        self.pending.update((k, r) for k, r in handled if k in self._claimed)


class MemoryInbox:
    """For tests and for participants whose handlers are naturally idempotent."""

    def __init__(self) -> None:
        self._committed: dict[str, StoredReply | None] = {}
        self._tombstones: set[str] = set()
        # One transaction at a time: the in-memory equivalent of waiting on the unique index.
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Transactions waiting for the one in progress (the inbox contract observes it)."""
        return self._waiting

    @contextmanager
    def transaction(self) -> Iterator[InboxTransaction]:
        with self._count_lock:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count_lock:
                self._waiting -= 1
        try:
            tx = _MemoryTransaction(self._committed, self._tombstones)
            yield tx
            self._committed.update(tx.pending)
            self._tombstones.update(tx.new_tombstones)
        finally:
            self._lock.release()

    def close(self) -> None:
        return None
