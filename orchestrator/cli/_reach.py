"""Fail fast, in one line, when PostgreSQL does not answer.

The stores behind sagactl use connection pools, which retry in the background for their whole
timeout and log every failed attempt: right for a worker riding out a failover, wrong for an
operator at a prompt. Commands call `require_postgres` first.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo

from orchestrator.cli._output import EXIT_UNREACHABLE, fail

CONNECT_TIMEOUT_S = 5


def require_postgres(conninfo: str) -> None:
    try:
        with psycopg.connect(make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT_S)):
            pass
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"PostgreSQL unreachable: {reason}", EXIT_UNREACHABLE) from None
