"""Bad input to `sagactl saga show|state|diff`: one line on stderr, nothing on stdout, the
documented exit code (1 no such saga, 2 bad usage, 3 PostgreSQL unreachable), no traceback.

The saga here is a recorded history (the real decider's, via the test kit) appended through
the PostgreSQL event store into a database of this module's own; no worker is needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from event_store.postgres import PostgresEventStore
from orchestrator.cli import sagactl
from tests.conftest import PgUrls
from tests.integration.forensics.conftest import Sagactl, ok, one_line_error
from tests.support import scratch_database
from tests.unit.forensics.histories import compensated_order, recorded

EVENTS = 13  # compensated_order()'s length
UNKNOWN = "00000000-0000-5000-8000-000000000000"


@pytest.fixture(scope="module")
def saga(pg_urls: PgUrls) -> Iterator[tuple[str, str]]:
    """(database url, saga id) of one compensated order."""
    events = compensated_order()
    history = recorded(events)
    assert len(history) == EVENTS
    with scratch_database(pg_urls) as db, PostgresEventStore(db.app) as store:
        first = history[0]
        store.append(
            first.stream_id,
            first.stream_type,
            0,
            [e.to_new_event(r.metadata) for e, r in zip(events, history, strict=True)],
        )
        yield db.app, first.stream_id


@pytest.fixture
def cli(saga: tuple[str, str]) -> Sagactl:
    url, _ = saga
    env = {"SAGA_DATABASE_URL": url, "SAGA_SAGAS": "sagas.order_fulfilment:OrderFulfilment"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(sagactl, ["saga", *args], env=env)

    return run


@pytest.fixture
def saga_id(saga: tuple[str, str]) -> str:
    return saga[1]


def test_the_appended_history_is_readable(cli: Sagactl, saga_id: str) -> None:
    assert len(ok(cli("show", saga_id)).stdout.splitlines()) == 1 + EVENTS
    ok(cli("state", saga_id, "--at-version", str(EVENTS)))
    ok(cli("diff", saga_id, "--from", "1", "--to", str(EVENTS)))


@pytest.mark.parametrize(
    "args",
    [
        ("show", UNKNOWN),
        ("state", UNKNOWN, "--at-version", "1"),
        ("diff", UNKNOWN, "--from", "1"),
    ],
)
def test_an_unknown_saga_is_a_problem_found_exit_1(cli: Sagactl, args: tuple[str, ...]) -> None:
    assert one_line_error(cli(*args), 1) == f"sagactl: no events for saga {UNKNOWN}"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            ("state", "{id}", "--at-version", "14"),
            "version 14 is not in the stream (versions 1 to 13)",
        ),
        (("state", "{id}", "--at-version", "0"), "0"),
        (("state", "{id}", "--at-time", "yesterday"), "'yesterday' is not an ISO-8601 instant"),
        (("state", "{id}", "--at-time", "2026-12-01T09:00:00"), "has no UTC offset"),
        (
            ("state", "{id}", "--at-time", "2000-01-01T00:00:00Z"),
            "is before the saga's first event",
        ),
        (("state", "{id}", "--at-version", "2", "--at-time", "2030-01-01T00:00:00Z"), "not both"),
        (("diff", "{id}"), "give one of --from or --from-time"),
        (("diff", "{id}", "--from", "5", "--to", "3"), "from version 5 is after to version 3"),
        (("diff", "{id}", "--from", "1", "--to", "99"), "version 99 is not in the stream"),
        (("diff", "{id}", "--from-time", "noon"), "'noon' is not an ISO-8601 instant"),
        (("show", "{id}", "--format", "mermaid", "--output", "json"), "--output json applies to"),
        (("show", "{id}", "--out", "/nonexistent/dir/t.html"), "cannot write /nonexistent/dir"),
        (("show", "not a saga id!"), "is not a saga id"),
        (("show", "{id}", "--format", "pdf"), "'pdf' is not one of"),
    ],
)
def test_bad_usage_is_exit_2_naming_the_value(
    cli: Sagactl, saga_id: str, args: tuple[str, ...], named: str
) -> None:
    error = one_line_error(cli(*(a.format(id=saga_id) for a in args)), 2)
    assert named in error, error


def test_an_unreachable_database_is_exit_3(saga_id: str) -> None:
    env = {
        "SAGA_DATABASE_URL": "postgresql://saga:saga@127.0.0.1:1/saga",
        "SAGA_SAGAS": "sagas.order_fulfilment:OrderFulfilment",
    }
    for args in (("show", saga_id), ("state", saga_id), ("diff", saga_id, "--from", "1")):
        result = CliRunner().invoke(sagactl, ["saga", *args], env=env)
        assert one_line_error(result, 3).startswith("sagactl: PostgreSQL unreachable"), args
