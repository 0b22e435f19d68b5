"""`sagactl saga list` filters, keyset paging and `--at` (folded from the log), and
`sagactl saga stuck`, on sagas run by the real worker and participants."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from orchestrator.cli import sagactl
from orchestrator.projections import stuck_sagas
from orchestrator.saga import saga_id_for
from sagas.order_services import Behaviour
from tests.integration.forensics.conftest import Sagactl, ok
from tests.integration.worker import isolated
from tests.integration.worker.conftest import World, WorldFactory

pytestmark = pytest.mark.timeout(240)


def listed(cli: Sagactl, *args: str) -> list[dict[str, object]]:
    return list(json.loads(ok(cli("list", "--output", "json", *args)).stdout))


def all_pages(cli: Sagactl, *args: str) -> tuple[list[str], int]:
    """Every saga id a listing shows, page by page through its `--after` cursor."""
    ids: list[str] = []
    pages = 0
    cursor: list[str] = []
    while True:
        result = ok(cli("list", "--output", "json", *args, *cursor))
        pages += 1
        ids += [str(row["saga_id"]) for row in json.loads(result.stdout)]
        last = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
        if not last or not last[0].startswith("next page: --after "):
            return ids, pages
        cursor = ["--after", last[0].removeprefix("next page: --after ")]


@pytest.fixture
def five_compensated(world: World) -> list[str]:
    world.start_worker()
    world.start_participants(shipping=Behaviour(failure_rate=1.0))
    ids = world.start_orders(5)
    assert set(world.wait_for(ids).values()) == {"compensated"}
    return ids


def test_filters_select_by_type_status_and_last_update(
    world: World, cli: Sagactl, five_compensated: list[str]
) -> None:
    name = world.saga.definition.name
    assert {r["saga_id"] for r in listed(cli, "--type", name)} == set(five_compensated)
    assert listed(cli, "--type", "no_such_saga") == []
    assert len(listed(cli, "--status", "compensated")) == 5
    assert listed(cli, "--status", "completed") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert listed(cli, "--since", future) == []
    assert listed(cli, "--until", past) == []
    assert len(listed(cli, "--since", past, "--until", future)) == 5
    # Finished sagas are not stuck, however long ago they finished.
    assert listed(cli, "--stuck-for", "1s") == []
    rows = listed(cli)
    stamps = [str(r["updated_at"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)  # most recently updated first


def test_paging_shows_every_saga_once(cli: Sagactl, five_compensated: list[str]) -> None:
    for mode in ([], ["--at", datetime.now(UTC).isoformat()]):
        ids, pages = all_pages(cli, "--limit", "2", *mode)
        assert sorted(ids) == sorted(five_compensated), mode  # nothing lost, nothing twice
        assert pages == 3, mode
    ids, pages = all_pages(cli, "--limit", "5")
    assert pages == 1  # exactly a page: no cursor for an empty next page
    assert len(ids) == 5


def test_a_cursor_from_the_other_kind_of_listing_is_refused(
    cli: Sagactl, five_compensated: list[str]
) -> None:
    result = cli(
        "list", "--at", datetime.now(UTC).isoformat(), "--after", "2026-01-01T00:00:00+00:00,s-1"
    )
    assert result.exit_code == 2
    assert "without --at" in result.stderr


def test_at_shows_the_status_before_and_after_compensation(
    world: World, cli: Sagactl, compensated_saga: str
) -> None:
    with psycopg.connect(world.app_url, autocommit=True) as conn:
        events = conn.execute(
            "SELECT event_type, recorded_at FROM events WHERE stream_id = %s ORDER BY version",
            [compensated_saga],
        ).fetchall()
    kinds = [kind for kind, _ in events]
    turn = kinds.index("CompensationStarted")
    # One decision's events share its clock reading: the last decision before compensation
    # began is the one with the latest earlier timestamp.
    before = max(at for _, at in events if at < events[turn][1])

    def status_at(moment: datetime) -> list[tuple[object, object]]:
        rows = listed(cli, "--at", moment.isoformat())
        return [(r["saga_id"], r["status"]) for r in rows]

    assert status_at(before) == [(compensated_saga, "running")]
    assert status_at(events[turn][1]) == [(compensated_saga, "compensating")]
    assert status_at(events[-1][1]) == [(compensated_saga, "compensated")]
    assert status_at(events[0][1] - timedelta(microseconds=1)) == []  # not started yet
    # Filters apply to the status at that instant, not to today's.
    assert listed(cli, "--at", before.isoformat(), "--status", "compensated") == []
    assert len(listed(cli, "--at", before.isoformat(), "--status", "running")) == 1
    assert len(listed(cli, "--at", before.isoformat(), "--stuck-for", "1d")) == 0


def test_stuck_lists_the_saga_whose_participant_is_silent(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shipping never answers half of the orders; its step waits an hour before timing out.
    world = make_world(timeout=timedelta(hours=1))
    silence = Behaviour(silence_rate=0.5, seed=11)
    world.start_worker()
    world.start_participants(shipping=silence)
    definition = world.saga.definition
    orders = [world.order(i) for i in range(6)]
    silent = {
        saga_id_for(definition.name, o.order_id)
        for o in orders
        if random.Random(f"{silence.seed}:shipping:{o.order_id}:1").random() < 0.5
    }
    assert 0 < len(silent) < len(orders), "the seed must make some orders silent, not all"
    ids = world.start_orders(len(orders))
    answered = [i for i in ids if i not in silent]
    assert set(world.wait_for(answered).values()) == {"completed"}
    for saga_id in silent:
        world.wait_events(
            saga_id,
            lambda rows: any(r.data.get("step") == "schedule_shipment" for r in rows),
            "shipment command",
        )
    world.wait_for(list(silent), lambda status: status == "running", what="running")
    time.sleep(1.5)  # let the silence outlast --older-than (one wait, not a poll)
    monkeypatch.setattr(isolated, "IsolatedOrder", world.saga, raising=False)
    result = CliRunner().invoke(
        sagactl, ["saga", "stuck", "--older-than", "1s", "--output", "json"], env=world.child_env()
    )
    ok(result)
    rows = json.loads(result.stdout)
    assert {r["saga_id"] for r in rows} == silent
    assert {r["waiting_on"] for r in rows} == {"schedule_shipment"}
    assert all(r["status"] == "running" for r in rows)
    # The query a gauge calls: the same sagas, none of the completed ones.
    with psycopg.connect(world.app_url, autocommit=True) as conn:
        found = stuck_sagas(conn, timedelta(seconds=1), datetime.now(UTC))
    assert {r.stream_id for r in found} == silent
