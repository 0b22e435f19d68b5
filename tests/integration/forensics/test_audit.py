"""`sagactl audit` against a real database (and Kafka for dead letters and anchors): a clean
store passes, and each violation, made on purpose, is named with its saga and invariant.

Histories are decided by the real decider (SagaTestKit) and appended through the PostgreSQL
store, so their chains are sound; a history that breaks an invariant is a decided one edited
before it is appended. Chains are broken as the superuser with the triggers disabled, as an
attacker with the database's keys would; the projections are folded by `db rebuild`'s code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from event_store import NewEvent
from event_store.postgres import PostgresEventStore
from event_store.verify import expected_hash
from orchestrator.archive import generate_key_pair
from orchestrator.cli import sagactl
from orchestrator.projections import rebuild
from orchestrator.saga import SagaRegistry, SagaStatus, saga_id_for
from orchestrator.saga.events import CommandIssued, SagaEvent, StepCompensated
from orchestrator.testing import SagaTestKit, VirtualClock
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    PlaceOrder,
    ShipmentRejected,
    ShipmentScheduled,
)
from tests.conftest import PgUrls
from tests.support import ScratchDb, scratch_database

SAGAS = "sagas.order_fulfilment:OrderFulfilment"
TYPE = OrderFulfilment.definition.name


def order(key: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=key, customer_id="c", sku="s", quantity=1, amount_cents=100, address="a"
    )


def kit(now: bool = False) -> SagaTestKit:
    # Sagas that must still be waiting are decided on today's clock, so their timers lie in
    # the future; the others on the kit's fixed 2024 clock.
    return SagaTestKit(OrderFulfilment, clock=VirtualClock(datetime.now(UTC)) if now else None)


def completed(key: str) -> list[SagaEvent]:
    run = kit().start(order(key))
    run.when(CreditReserved(order_id=key, reservation_id="cr"))
    run.when(InventoryReserved(order_id=key, reservation_id="ir"))
    run.when(ShipmentScheduled(order_id=key, shipment_id="sh"))
    assert run.status is SagaStatus.COMPLETED
    return run.history


def compensated(key: str) -> list[SagaEvent]:
    run = kit().start(order(key))
    run.when(CreditReserved(order_id=key, reservation_id="cr"))
    run.when(InventoryReserved(order_id=key, reservation_id="ir"))
    run.when(ShipmentRejected(order_id=key, reason="no carrier"))
    run.when(InventoryReleased(order_id=key))
    run.when(CreditReleased(order_id=key))
    assert run.status is SagaStatus.COMPENSATED
    return run.history


def waiting(key: str, *, now: bool) -> list[SagaEvent]:
    """Credit reserved, the inventory command out and its timeout pending."""
    run = kit(now=now).start(order(key))
    run.when(CreditReserved(order_id=key, reservation_id="cr"))
    return run.history


def parked(key: str, topic: str, offset: int) -> list[SagaEvent]:
    run = kit(now=True).start(order(key))
    run.dead_letter(topic, partition=0, offset=offset, reason="undecodable reply")
    return run.history


class Store:
    def __init__(self, db: ScratchDb, bootstrap: str) -> None:
        self.db = db
        self.bootstrap = bootstrap

    def append(self, key: str, history: list[SagaEvent]) -> str:
        saga_id = saga_id_for(TYPE, key)
        with PostgresEventStore(self.db.app) as store:
            store.append(
                saga_id,
                TYPE,
                0,
                [e.to_new_event({"causation_id": f"m-{i}"}) for i, e in enumerate(history)],
            )
        return saga_id

    def fold_projections(self) -> None:
        rebuild(self.db.owner, registry=SagaRegistry([OrderFulfilment]))

    def as_superuser(self, statement: str, params: list[object]) -> None:
        """An attacker's edit: the triggers that refuse it are switched off around it."""
        with psycopg.connect(self.db.superuser) as conn, conn.transaction():
            conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
            conn.execute(statement, params)
            conn.execute("ALTER TABLE events ENABLE TRIGGER USER")

    def audit(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(
            sagactl,
            ["audit", "--output", "json", *args],
            env={
                "SAGA_DATABASE_URL": self.db.app,
                "SAGA_SAGAS": SAGAS,
                "SAGA_KAFKA_BOOTSTRAP": self.bootstrap,
                **env,
            },
        )


@pytest.fixture
def store(pg_urls: PgUrls, kafka_bootstrap: str) -> Iterator[Store]:
    with scratch_database(pg_urls) as db:
        yield Store(db, kafka_bootstrap)


@pytest.fixture
def dead_letter_topic(kafka_bootstrap: str) -> Iterator[str]:
    topic = f"audit-test-{uuid.uuid4().hex[:10]}.dlt"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    yield topic
    for future in admin.delete_topics([topic]).values():
        future.result(30)


def findings(result: Result) -> list[tuple[str, str]]:
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.stderr
    rows = json.loads(result.stdout)
    assert rows, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sagactl: audit: "), result.stderr
    return sorted((row["saga_id"], row["invariant"]) for row in rows)


def detail(result: Result) -> str:
    return " | ".join(row["detail"] for row in json.loads(result.stdout))


def clean(store: Store) -> dict[str, str]:
    """One completed, one compensated and one waiting saga: a store the audit passes."""
    sagas = {
        "completed": store.append("o-done", completed("o-done")),
        "compensated": store.append("o-undone", compensated("o-undone")),
        "waiting": store.append("o-waiting", waiting("o-waiting", now=True)),
    }
    store.fold_projections()
    return sagas


def test_a_clean_store_passes(store: Store) -> None:
    clean(store)
    result = store.audit()
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout) == []
    assert "audited 3 saga(s)" in result.stderr
    assert "0 violation(s)" in result.stderr


def test_a_saga_waiting_past_its_timeouts_is_not_settled(store: Store) -> None:
    clean(store)
    stale = store.append("o-stale", waiting("o-stale", now=False))
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(stale, "settled")]
    assert "its last timer was due at 2024-01-01" in detail(result)


def test_a_parked_saga_is_settled_only_while_its_dead_letter_is_in_the_topic(
    store: Store, dead_letter_topic: str
) -> None:
    producer = Producer({"bootstrap.servers": store.bootstrap})
    kept = saga_id_for(TYPE, "o-parked")
    producer.produce(dead_letter_topic, key=kept.encode(), value=b"poison", partition=0)
    assert producer.flush(30) == 0
    clean(store)
    store.append("o-parked", parked("o-parked", dead_letter_topic, offset=0))
    lost = store.append("o-lost", parked("o-lost", dead_letter_topic, offset=7))
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(lost, "settled")]
    assert f"parked on {dead_letter_topic}/0@7" in detail(result)
    assert "the message is gone" in detail(result)


def test_a_step_attempt_issued_under_two_message_ids(store: Store) -> None:
    clean(store)
    history = completed("o-twice")
    first = next(i for i, e in enumerate(history) if isinstance(e, CommandIssued))
    command = history[first]
    assert isinstance(command, CommandIssued)
    again = command.model_copy(update={"message_id": str(uuid.uuid4())})
    twice = store.append("o-twice", [*history[: first + 1], again, *history[first + 1 :]])
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(twice, "one-message-id")]
    assert f"step reserve_credit attempt 1 issued as {again.message_id}" in detail(result)


def test_compensations_out_of_reverse_order(store: Store) -> None:
    clean(store)
    history = compensated("o-order")
    undone = [i for i, e in enumerate(history) if isinstance(e, StepCompensated)]
    assert len(undone) == 2
    swapped = [*history]
    swapped[undone[0]], swapped[undone[1]] = history[undone[1]], history[undone[0]]
    wrong = store.append("o-order", swapped)
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(wrong, "compensated-in-reverse")]
    assert "compensating [reserve_credit, reserve_inventory]" in detail(result)
    assert "are [reserve_inventory, reserve_credit]" in detail(result)


def test_a_step_left_uncompensated(store: Store) -> None:
    clean(store)
    history = compensated("o-half")
    credit = next(
        i
        for i, e in enumerate(history)
        if isinstance(e, StepCompensated) and e.step == "reserve_credit"
    )
    half = store.append("o-half", [*history[:credit], *history[credit + 1 :]])
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(half, "compensated-in-reverse")]
    assert "compensating [reserve_inventory]" in detail(result)


def test_a_command_issued_after_the_terminal_event(store: Store) -> None:
    clean(store)
    history = completed("o-late")
    command = next(e for e in history if isinstance(e, CommandIssued))
    assert isinstance(command, CommandIssued)
    late = command.model_copy(update={"attempt": 9, "message_id": str(uuid.uuid4())})
    after = store.append("o-late", [*history, late])
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [(after, "no-command-after-terminal")]
    assert "command reserve_credit attempt 9 issued after v" in detail(result)
    assert "SagaCompleted (status completed)" in detail(result)


def test_an_altered_event_breaks_its_chain(store: Store) -> None:
    sagas = clean(store)
    store.as_superuser(
        "UPDATE events SET data = jsonb_set(data, '{reason}', '\"forged\"') "
        "WHERE stream_id = %s AND event_type = 'StepFailed'",
        [sagas["compensated"]],
    )
    result = store.audit()
    assert findings(result) == [(sagas["compensated"], "chain")]
    assert "hash mismatch" in detail(result)


def test_a_rewritten_tail_is_found_against_the_anchor(store: Store, tmp_path: Path) -> None:
    sagas = clean(store)
    keys = generate_key_pair(tmp_path / "keys")
    topic = f"saga.anchors.audit-{uuid.uuid4().hex[:10]}"
    env = {"SAGA_ANCHOR_TOPIC": topic, "SAGA_ANCHOR_SIGNING_KEY_FILE": str(keys.private)}
    anchored = CliRunner().invoke(
        sagactl, ["db", "anchor"], env={"SAGA_DATABASE_URL": store.db.app, **env,
                                         "SAGA_KAFKA_BOOTSTRAP": store.bootstrap}
    )  # fmt: skip
    assert anchored.exit_code == 0, anchored.output
    try:
        # The newest event's content changed and its hash recomputed over it: the chain
        # alone still verifies, the anchor does not.
        with PostgresEventStore(store.db.app) as events:
            *_, before, last = events.read_stream(sagas["completed"])
        forged = replace(last, data={**last.data, "state": {**last.data["state"], "sku": "x"}})
        store.as_superuser(
            "UPDATE events SET data = %s::jsonb, hash = %s WHERE stream_id = %s AND version = %s",
            [
                json.dumps(forged.data),
                expected_hash(before.hash, forged),
                last.stream_id,
                last.version,
            ],
        )
        result = store.audit(**env)
        assert findings(result) == [(sagas["completed"], "chain")]
        assert "against the anchor, rewritten tail" in detail(result)
    finally:
        admin = AdminClient({"bootstrap.servers": store.bootstrap})
        for future in admin.delete_topics([topic]).values():
            future.result(30)


def test_a_projection_that_differs_from_a_fresh_fold(store: Store) -> None:
    sagas = clean(store)
    with psycopg.connect(store.db.owner) as conn:
        conn.execute(
            "UPDATE saga_instances SET status = 'running' WHERE stream_id = %s",
            [sagas["completed"]],
        )
    result = store.audit()
    assert findings(result) == [(sagas["completed"], "projection")]
    assert "saga_instances status running (fold: completed)" in detail(result)


def test_exit_3_when_the_database_does_not_answer(store: Store) -> None:
    result = store.audit(SAGA_DATABASE_URL="postgresql://saga:x@127.0.0.1:1/saga")
    assert result.exit_code == 3
    assert result.stdout == ""


def test_the_grace_is_a_duration(store: Store) -> None:
    result = store.audit("--grace", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.stderr


def test_a_stream_the_deployed_sagas_cannot_fold(store: Store) -> None:
    clean(store)
    with PostgresEventStore(store.db.app) as events:
        events.append("s-foreign", "inventory_sync", 0, [NewEvent("SagaStarted", {"x": 1})])
    store.fold_projections()
    result = store.audit()
    assert findings(result) == [("s-foreign", "unreadable")]
    assert "cannot be folded" in detail(result)
