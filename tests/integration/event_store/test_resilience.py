"""Transient failures are retried; a connection lost after COMMIT was sent neither fails the
append nor writes it twice.

Two real ways to lose the connection at COMMIT: `pg_terminate_backend` while the server is
still inside the COMMIT (it rolls back), and a proxy that drops the connection right after the
server answered COMMIT (it committed). The client cannot tell the two apart; both must end with
the events written exactly once.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from event_store import ConcurrencyError, NewEvent, StreamAppend
from event_store._retry import RetryPolicy
from event_store.postgres import PostgresEventStore
from tests.integration.event_store.conftest import CommitGate
from tests.support import Background, ScratchDb

FAST_RETRY = RetryPolicy(max_attempts=6, initial_wait=0.01, max_wait=0.2)
EVENTS = [NewEvent("Reserved", {"n": 1}), NewEvent("Charged", {"n": 2})]


def terminate(db: ScratchDb, pid: int) -> None:
    with psycopg.connect(db.superuser, autocommit=True) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()
    assert row is not None
    assert row[0] is True


def test_terminated_during_commit_the_append_is_retried_and_written_once(
    clean_db: ScratchDb, commit_gate: CommitGate, caplog: pytest.LogCaptureFixture
) -> None:
    with PostgresEventStore(clean_db.app, retry=FAST_RETRY) as store:
        commit_gate.close()
        append = Background.call(lambda: store.append("held-1", "T", 0, EVENTS, message_id="m-1"))
        append.start()
        caplog.set_level(logging.WARNING, logger="event_store")
        (pid,) = commit_gate.wait_for_waiters(1)  # the backend is inside COMMIT
        terminate(clean_db, pid)
        # The retry, on a new connection, has reached COMMIT again.
        commit_gate.wait_for_waiters(1, other_than=frozenset({pid}))
        commit_gate.open()
        result = append.outcome()
        assert "retrying" in caplog.text
        assert (result.first_version, result.last_version) == (1, 2)
        assert [e.event_type for e in store.read_stream("held-1")] == ["Reserved", "Charged"]
        assert store.verify().ok


def test_terminated_in_a_batch_every_stream_is_written_once(
    clean_db: ScratchDb, commit_gate: CommitGate
) -> None:
    batch = [
        StreamAppend("held-a", "T", 0, EVENTS, message_id="m-a"),
        StreamAppend("free-b", "T", 0, EVENTS, message_id="m-b"),
    ]
    with PostgresEventStore(clean_db.app, retry=FAST_RETRY) as store:
        commit_gate.close()
        append = Background.call(lambda: store.append_batch(batch))
        append.start()
        (pid,) = commit_gate.wait_for_waiters(1)
        terminate(clean_db, pid)
        commit_gate.open()
        result = append.outcome()
        assert set(result.appended) == {"held-a", "free-b"}
        assert not result.conflicts
        assert store.stream_version("held-a") == 2
        assert store.stream_version("free-b") == 2


class CommitCuttingProxy:
    """A TCP relay to PostgreSQL that, when armed, forwards the server's messages up to the
    CommandComplete of a COMMIT and then drops both connections: the server has committed, and
    the client learns nothing but a lost connection."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.armed = threading.Event()
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._spawn(self._relay, client, server)

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        pending = b""
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.2)
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    server.sendall(data)
                if server in ready:
                    data = server.recv(65536)
                    if not data:
                        return
                    pending += data
                    # Forward whole protocol messages: type byte + int32 length (self-inclusive).
                    while len(pending) >= 5:
                        length = struct.unpack("!I", pending[1:5])[0]
                        if len(pending) < 1 + length:
                            break
                        message, pending = pending[: 1 + length], pending[1 + length :]
                        if (
                            self.armed.is_set()
                            and message[:1] == b"C"
                            and message[5:].startswith(b"COMMIT\x00")
                        ):
                            self.armed.clear()
                            self.cut.set()
                            return
                        client.sendall(message)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def proxy_conninfo(clean_db: ScratchDb) -> Iterator[tuple[CommitCuttingProxy, str]]:
    params = conninfo_to_dict(clean_db.app)
    proxy = CommitCuttingProxy(
        str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)
    )
    # Plain protocol (no TLS, no GSS) so the proxy can read the server's messages.
    conninfo = make_conninfo(
        clean_db.app, host="127.0.0.1", port=proxy.port, sslmode="disable", gssencmode="disable"
    )
    try:
        yield proxy, conninfo
    finally:
        proxy.close()


def test_connection_lost_after_a_commit_that_landed_is_resolved_by_the_message_id(
    proxy_conninfo: tuple[CommitCuttingProxy, str], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, conninfo = proxy_conninfo
    caplog.set_level(logging.WARNING, logger="event_store")
    with PostgresEventStore(conninfo, retry=FAST_RETRY) as store:
        store.append("warm-up", "T", 0, [NewEvent("A", {})])  # the pool has a live connection
        proxy.armed.set()
        result = store.append("s-1", "T", 0, EVENTS, message_id="m-1")
        assert proxy.cut.is_set(), "the proxy never cut the connection after COMMIT"
        # The first attempt committed; the retry recognised the message id.
        assert "retrying" in caplog.text
        assert result.deduplicated
        assert (result.first_version, result.last_version) == (1, 2)
        assert [e.event_type for e in store.read_stream("s-1")] == ["Reserved", "Charged"]
        assert store.verify().ok


def test_without_a_message_id_the_ambiguity_surfaces_and_nothing_is_doubled(
    proxy_conninfo: tuple[CommitCuttingProxy, str],
) -> None:
    # No idempotency key, so the retry cannot know the events are its own: it must report a
    # conflict (the caller then re-reads the stream) rather than append them a second time.
    proxy, conninfo = proxy_conninfo
    with PostgresEventStore(conninfo, retry=FAST_RETRY) as store:
        store.append("warm-up", "T", 0, [NewEvent("A", {})])
        proxy.armed.set()
        with pytest.raises(ConcurrencyError) as caught:
            store.append("s-1", "T", 0, EVENTS)
        assert proxy.cut.is_set()
        assert caught.value.actual_version == 2
        assert store.stream_version("s-1") == 2


def test_a_server_side_disconnect_of_an_idle_pooled_connection_is_survived(
    clean_db: ScratchDb,
) -> None:
    with PostgresEventStore(clean_db.app, retry=FAST_RETRY, pool_max_size=1) as store:
        store.append("s-1", "T", 0, [NewEvent("A", {})])
        with psycopg.connect(clean_db.superuser, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'saga-event-store'",
                [clean_db.name],
            )
        assert store.append("s-1", "T", 1, [NewEvent("B", {})]).last_version == 2
        assert store.stream_version("s-1") == 2
