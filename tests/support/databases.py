"""`scratch_database`: a PostgreSQL database of one test's (or one module's) own.

Created by the superuser, owned by the owner role, migrated as `sagactl db migrate` does (every
layer's migrations, the read models' included) as the owner unless asked not to, and dropped at
the end, with FORCE, so a test never sees another suite's rows nor leaves its own behind on the
shared server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.database import migrate
from tests.conftest import PgUrls


@dataclass(frozen=True)
class ScratchDb:
    name: str
    app: str  # the application role, on this database
    owner: str  # the owner role, on this database
    superuser: str  # the superuser, on this database
    app_role: str
    owner_role: str


def role_of(conninfo: str) -> str:
    """The user a connection string logs in as."""
    return str(conninfo_to_dict(conninfo).get("user") or "")


@contextmanager
def scratch_database(
    pg_urls: PgUrls, *, prefix: str = "scratch", migrated: bool = True
) -> Iterator[ScratchDb]:
    """A new database named `<prefix>_<random>`; with every migration applied if `migrated`."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    db = ScratchDb(
        name=name,
        app=make_conninfo(pg_urls.app, dbname=name),
        owner=make_conninfo(pg_urls.owner, dbname=name),
        superuser=make_conninfo(pg_urls.superuser, dbname=name),
        app_role=role_of(pg_urls.app),
        owner_role=role_of(pg_urls.owner),
    )
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(db.owner_role)
            )
        )
    try:
        if migrated:
            migrate(db.owner, app_role=db.app_role)
        yield db
    finally:
        # Connected to the maintenance database: a database cannot drop itself.
        with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
