"""Checking pooled connections only when they may have gone stale.

`ConnectionPool.check_connection` is a round trip to the server on every checkout. The worker
checks a connection out for every append and every outbox poll (hundreds a second), and
those pings were a tenth of its CPU and as many extra statements for PostgreSQL. A connection
checked out a moment ago is as alive as a ping would show; one idle for longer (across a server
restart, a failover, an idle timeout) is pinged before use as before. A connection that dies
in between fails its statement with a connection error, which the store's retry policy
(event_store.retry) retries on a fresh one.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

__all__ = ["IdleCheck"]

# Seconds a returned connection is trusted without a ping.
TRUST_FOR_S = 5.0


class IdleCheck:
    """The `check` callback of one pool: ping a connection not checked out for TRUST_FOR_S."""

    def __init__(self, trust_for_s: float = TRUST_FOR_S) -> None:
        self._trust_for_s = trust_for_s
        self._used_at: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def check(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        used_at = self._used_at.get(conn)
        if used_at is None or now - used_at > self._trust_for_s:
            ConnectionPool.check_connection(conn)
        self._used_at[conn] = now
