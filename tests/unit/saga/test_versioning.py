"""Two versions of a saga side by side: instances finish on the version they started with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.saga import (
    MissingVersionError,
    RegistryError,
    SagaRegistry,
    SagaStatus,
    check_history,
    load_history,
)
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditReserved,
    InventoryReserved,
    PlaceOrder,
    ReserveCredit,
    ReserveInventory,
    ShipmentScheduled,
)

HISTORIES = Path(__file__).parents[2] / "histories"


class OrderFulfilmentV2(OrderFulfilment):
    """Version 2 reserves inventory before credit, and ships to a different topic."""

    version = 2
    steps = (
        OrderFulfilment.steps[1],
        OrderFulfilment.steps[0],
        replace(OrderFulfilment.steps[2], to="shipping.v2"),
    )


def order(order_id: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=order_id, customer_id="c", sku="S", quantity=1, amount_cents=10, address="A"
    )


def test_new_instances_start_on_the_latest_version() -> None:
    kit = SagaTestKit(OrderFulfilment, OrderFulfilmentV2)
    run = kit.start(order("new"))
    assert run.instance.definition_version == 2
    run.last.expect_commands(ReserveInventory(order_id="new", sku="S", quantity=1))


def test_an_instance_started_on_v1_finishes_on_v1_after_v2_is_deployed() -> None:
    before = SagaTestKit(OrderFulfilment)
    old = before.start(order("old"))
    old.when(CreditReserved(order_id="old", reservation_id="r"))

    after = SagaTestKit(OrderFulfilment, OrderFulfilmentV2)  # the deployment
    resumed = after.given(*old.history)
    assert resumed.definition is OrderFulfilment.definition
    resumed.when(InventoryReserved(order_id="old", reservation_id="i"))
    shipment = resumed.last.commands[0]
    assert shipment.topic == "shipping.commands"  # v1's topic, not v2's
    resumed.when(ShipmentScheduled(order_id="old", shipment_id="s"))
    assert resumed.status is SagaStatus.COMPLETED

    fresh = after.start(order("fresh"))
    assert [c.message for c in fresh.commands] == [
        ReserveInventory(order_id="fresh", sku="S", quantity=1)
    ]
    fresh.when(InventoryReserved(order_id="fresh", reservation_id="i")).expect_commands(
        ReserveCredit(order_id="fresh", customer_id="c", amount_cents=10)
    )


def test_a_v1_history_still_replays_with_v2_deployed() -> None:
    registry = SagaRegistry([OrderFulfilment, OrderFulfilmentV2])
    for path in sorted(HISTORIES.glob("order_fulfilment_v1_*.jsonl")):
        history = load_history(path)
        report = check_history(registry, history, str(path))
        assert report.ok, str(report)
        instance = registry.replay(history)
        assert instance is not None
        assert instance.definition_version == 1


def test_replacing_v1_with_v2_under_the_same_version_number_is_caught() -> None:
    class Sneaky(OrderFulfilmentV2):
        version = 1  # "just a small change", deployed without a version bump

    registry = SagaRegistry([Sneaky])
    history = load_history(HISTORIES / "order_fulfilment_v1_completed.jsonl")
    report = check_history(registry, history)
    assert not report.ok
    assert report.divergence is not None
    assert report.divergence.decision == 0


def test_new_instances_start_on_the_pinned_version() -> None:
    registry = SagaRegistry([OrderFulfilment, OrderFulfilmentV2])
    pinned = registry.with_start_versions({"order_fulfilment": 1})
    assert pinned.for_start(PlaceOrder) is OrderFulfilment.definition
    assert registry.for_start(PlaceOrder) is OrderFulfilmentV2.definition  # unchanged
    # Instances are still decided by the version they started on.
    assert pinned.get("order_fulfilment", 2) is OrderFulfilmentV2.definition


def test_a_pin_must_name_a_registered_saga_type_and_version() -> None:
    registry = SagaRegistry([OrderFulfilment])
    with pytest.raises(RegistryError, match="no saga 'trip' is registered"):
        registry.with_start_versions({"trip": 1})
    with pytest.raises(RegistryError, match=r"order_fulfilment has no version 2 .*registered: 1"):
        registry.with_start_versions({"order_fulfilment": 2})


def test_a_known_saga_at_an_unknown_version_is_a_missing_version() -> None:
    registry = SagaRegistry([OrderFulfilment])
    with pytest.raises(MissingVersionError) as raised:
        registry.get("order_fulfilment", 2)
    assert (raised.value.saga_type, raised.value.version) == ("order_fulfilment", 2)
    with pytest.raises(RegistryError) as unknown:
        registry.get("trip_booking", 1)
    assert not isinstance(unknown.value, MissingVersionError)
