"""The ACLs `sagactl acls` derives from the saga definitions."""

from __future__ import annotations

from orchestrator.acls import Principals, required_acls
from orchestrator.kafka import dead_letter_topic
from orchestrator.runtime import Routes, load_sagas
from orchestrator.saga import SagaRegistry

SAGAS = "sagas.order_fulfilment:OrderFulfilment,sagas.trip_booking:TripBooking"


def _rules(anchor_topic: str | None = None) -> set[tuple[str, str, str, str]]:
    registry = SagaRegistry(load_sagas(SAGAS))
    rules = required_acls(
        registry, Principals(worker="w", starter="s"), worker_group="g", anchor_topic=anchor_topic
    )
    return {(r.principal, r.resource_type, r.resource, r.operation) for r in rules}


def test_the_worker_may_create_exactly_the_topics_it_creates() -> None:
    routes = Routes.of(SagaRegistry(load_sagas(SAGAS)))
    created = set(routes.consumed) | set(routes.command_topics)
    created |= {dead_letter_topic(topic) for topic in created}
    granted = {name for who, kind, name, op in _rules() if who == "User:w" and op == "CREATE"}
    assert granted == created


def test_the_worker_reads_starts_and_replies_and_writes_commands() -> None:
    rules = _rules()
    for topic in ("order_fulfilment.start", "order_fulfilment.replies", "trip_booking.start"):
        assert ("User:w", "TOPIC", topic, "READ") in rules
    assert ("User:w", "TOPIC", "credit.commands", "WRITE") in rules
    assert ("User:w", "TOPIC", "order_fulfilment.replies", "WRITE") in rules  # its timeouts
    assert ("User:w", "TOPIC", "credit.commands", "READ") not in rules
    assert ("User:w", "GROUP", "g", "READ") in rules


def test_a_participant_gets_its_own_topic_group_replies_and_dead_letters_only() -> None:
    inventory = {(kind, name, op) for who, kind, name, op in _rules() if who == "User:inventory"}
    assert inventory == {
        ("TOPIC", "inventory.commands", "READ"),
        ("TOPIC", "inventory.commands", "DESCRIBE"),
        ("TOPIC", "inventory.commands.dlt", "WRITE"),
        ("TOPIC", "inventory.commands.dlt", "DESCRIBE"),
        ("TOPIC", "order_fulfilment.replies", "WRITE"),
        ("TOPIC", "order_fulfilment.replies", "DESCRIBE"),
        ("GROUP", "participant-inventory", "READ"),
        ("GROUP", "participant-inventory", "DESCRIBE"),
    }


def test_the_starter_writes_start_topics_and_the_anchors_need_a_key() -> None:
    rules = _rules()
    starter = {(name, op) for who, _, name, op in rules if who == "User:s"}
    assert starter == {
        ("order_fulfilment.start", "WRITE"),
        ("order_fulfilment.start", "DESCRIBE"),
        ("trip_booking.start", "WRITE"),
        ("trip_booking.start", "DESCRIBE"),
    }
    assert not any(name == "saga.anchors" for _, _, name, _ in rules)
    assert ("User:w", "TOPIC", "saga.anchors", "WRITE") in _rules("saga.anchors")
