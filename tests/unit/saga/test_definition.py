"""Definitions are validated when the class is created, with errors naming class and step."""

from __future__ import annotations

import types
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.saga import (
    RegistryError,
    RetryPolicy,
    Saga,
    SagaDefinitionError,
    SagaRegistry,
    Topics,
    compensation,
    parallel,
    step,
)
from sagas.order_fulfilment import OrderFulfilment, OrderState
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReserved,
    PlaceOrder,
    ReleaseCredit,
    ReserveCredit,
    ReserveInventory,
)
from sagas.trip_booking import TripBooking

T = timedelta(seconds=5)


def credit_step(**overrides: Any) -> Any:
    undo: dict[str, Any] = {"confirmed": CreditReleased}
    undo.update(overrides.pop("undo", {}))
    kwargs: dict[str, Any] = {
        "to": "credit",
        "success": CreditReserved,
        "failure": CreditRejected,
        "compensate": compensation(undo.pop("command", ReleaseCredit), **undo),
        "timeout": T,
    }
    kwargs.update(overrides)
    name = kwargs.pop("name", "reserve_credit")
    command = kwargs.pop("command", ReserveCredit)
    return step(name, command, **kwargs)


def define(*steps: Any, state: Any = OrderState, start: Any = PlaceOrder, **attrs: Any) -> Any:
    body: dict[str, Any] = {"business_key": "order_id", "steps": steps}
    body.update(attrs)
    return types.new_class("Broken", (Saga[start, state],), exec_body=lambda ns: ns.update(body))


def test_a_valid_definition_gets_defaults_from_its_name() -> None:
    saga = define(credit_step(), name="orders_test")
    d = saga.definition
    assert (d.name, d.version) == ("orders_test", 1)
    assert (d.start_topic, d.reply_topic) == ("orders_test.start", "orders_test.replies")
    assert d.command_topics == {"credit.commands"}
    assert [s.name for s in d.stages] == ["reserve_credit"]


def test_destinations_map_to_the_topics_the_histories_were_written_with() -> None:
    d = OrderFulfilment.definition
    assert [(s.destination, s.topic) for s in d.steps.values()] == [
        ("credit", "credit.commands"),
        ("inventory", "inventory.commands"),
        ("shipping", "shipping.commands"),
    ]
    assert (d.start_topic, d.reply_topic) == ("order_fulfilment.start", "order_fulfilment.replies")


def test_a_topic_mapping_moves_every_topic_of_a_saga() -> None:
    topics = Topics(prefix="t1.", suffix=".x", routes={"credit": "legacy-credit"})
    saga = OrderFulfilment.variant(name="order_t1", topics=topics)
    d = saga.definition
    assert d.steps["reserve_credit"].topic == "t1.legacy-credit.x"
    assert d.steps["reserve_inventory"].compensation is not None
    assert d.steps["reserve_inventory"].compensation.topic == "t1.inventory.commands.x"
    assert (d.start_topic, d.reply_topic) == ("t1.order_t1.start.x", "t1.order_t1.replies.x")
    assert saga.start_topic == d.start_topic
    # The saga it was made from is untouched.
    assert OrderFulfilment.definition.steps["reserve_credit"].topic == "credit.commands"


def test_a_topic_mapping_that_makes_an_invalid_topic_names_the_step() -> None:
    with pytest.raises(SagaDefinitionError, match=r"step 'reserve_credit'.*not a valid Kafka"):
        define(credit_step(), topics=Topics(prefix="bad prefix "))


def test_the_default_name_is_the_class_name_in_snake_case() -> None:
    class PlaceTheOrder(Saga[PlaceOrder, OrderState]):
        business_key = "order_id"
        steps = (credit_step(),)

    assert PlaceTheOrder.definition.name == "place_the_order"


def test_a_step_without_reply_types_names_class_and_step() -> None:
    with pytest.raises(SagaDefinitionError, match=r"saga Broken, step 'reserve_credit'.*success"):
        define(credit_step(success=()))


def test_a_duplicate_step_name_is_rejected() -> None:
    with pytest.raises(SagaDefinitionError, match=r"Broken, step 'reserve_credit': duplicate"):
        define(credit_step(), credit_step())


def test_a_duplicate_name_inside_a_parallel_group_is_rejected() -> None:
    with pytest.raises(SagaDefinitionError, match="duplicate step name"):
        define(parallel("group", credit_step(), credit_step()))


def test_a_compensation_that_is_not_a_message_is_rejected() -> None:
    with pytest.raises(SagaDefinitionError, match=r"step 'reserve_credit'.*compensation command"):
        define(credit_step(undo={"command": "saga.examples.order.ReleaseCredit"}))


def test_a_message_type_that_is_not_a_message_has_no_schema() -> None:
    class NotAMessage(BaseModel):
        order_id: str

    with pytest.raises(SagaDefinitionError, match=r"step 'reserve_credit'.*no Avro schema"):
        define(credit_step(failure=NotAMessage))
    with pytest.raises(SagaDefinitionError, match=r"step 'reserve_credit'.*no Avro schema"):
        define(credit_step(command=NotAMessage))


def test_the_start_command_must_be_a_message() -> None:
    with pytest.raises(SagaDefinitionError, match=r"saga Broken: the start type"):
        define(credit_step(), start=OrderState)


def test_a_saga_class_must_name_its_types() -> None:
    with pytest.raises(SagaDefinitionError, match=r"subclass Saga\[Start\]"):
        type("Untyped", (Saga,), {"business_key": "order_id", "steps": (credit_step(),)})


def test_a_saga_of_one_type_argument_keeps_the_start_command_as_its_state() -> None:
    class CheckCredit(Saga[ReserveCredit]):
        business_key = "order_id"
        steps = (
            step(
                "reserve_credit",
                ReserveCredit,
                to="credit",
                success=CreditReserved,
                timeout=T,
            ),
        )

    d = CheckCredit.definition
    assert d.state_type is d.start_type is ReserveCredit
    start = ReserveCredit(order_id="o", customer_id="c", amount_cents=1)
    assert d.initial_state(start) is start


def test_the_business_key_must_be_a_field_of_the_start_command() -> None:
    with pytest.raises(SagaDefinitionError, match="business_key"):
        define(credit_step(), business_key="customer")


def test_a_command_the_state_cannot_fill_needs_a_builder() -> None:
    class Thin(BaseModel):
        order_id: str

    with pytest.raises(
        SagaDefinitionError,
        match=r"step 'reserve_credit': command ReserveCredit cannot be filled from Thin: "
        r"field 'customer_id' has no source",
    ):
        define(credit_step(compensate=None), state=Thin)


def test_an_optional_field_without_a_source_is_an_error_not_a_silent_none() -> None:
    # ReleaseCredit.credit_reservation_id defaults to None: filled from a state without it, it
    # would go out as None to a service that needs it to release anything.
    class NoReservationId(BaseModel):
        order_id: str
        customer_id: str
        amount_cents: int

    with pytest.raises(
        SagaDefinitionError,
        match=r"compensation ReleaseCredit cannot be filled from NoReservationId: "
        r"field 'credit_reservation_id' has no source",
    ):
        define(credit_step(), state=NoReservationId)
    # A builder is the author saying where every field comes from.
    define(
        credit_step(
            undo={"build": lambda s, r: ReleaseCredit(**s.model_dump(), credit_reservation_id=None)}
        ),
        state=NoReservationId,
    )


def test_state_fields_missing_from_the_start_command_need_defaults() -> None:
    class Extra(OrderState):
        loyalty_tier: str

    with pytest.raises(SagaDefinitionError, match="loyalty_tier"):
        define(credit_step(), state=Extra)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"success": CreditReserved, "failure": CreditReserved}, "both success and failure"),
        ({"undo": {"confirmed": None}}, "needs at least one `confirmed`"),
        ({"undo": {"confirmed": CreditReserved}}, "compensation reply types must differ"),
        ({"undo": {"timeout": timedelta(0)}}, "compensation timeout"),
        ({"undo": {"to": "no spaces"}}, "compensation to"),
        ({"undo": {"build": lambda s: None}}, "compensation build` must take 2"),
        ({"compensate": ReleaseCredit}, "must be a compensation"),
        ({"timeout": timedelta(0)}, "positive timedelta"),
        ({"to": ""}, "destination"),
        ({"to": "credit.commands topic"}, "destination"),
        ({"retry": 3}, "RetryPolicy"),
        ({"name": "has space"}, "step name"),
        ({"when": True}, "`when` must be callable"),
        ({"when": lambda: True}, "`when` must take 1"),
        ({"on_success": lambda s: s}, "`on_success` must take 2"),
        ({"failure": None, "on_failure": lambda s, r: s}, "no failure reply type"),
        ({"build": lambda: None}, "command build` must take 1"),
    ],
)
def test_other_declaration_mistakes(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SagaDefinitionError, match=message):
        define(credit_step(**overrides))


def test_steps_must_be_declared() -> None:
    with pytest.raises(SagaDefinitionError, match="non-empty"):
        define()
    with pytest.raises(SagaDefinitionError, match=r"steps\[0\]"):
        define("reserve_credit")


def test_a_version_must_be_positive() -> None:
    with pytest.raises(SagaDefinitionError, match="version"):
        define(credit_step(), version=0)


def test_an_abstract_base_is_not_validated() -> None:
    class Base(Saga[PlaceOrder, OrderState], abstract=True):
        business_key = "order_id"

    assert "definition" not in Base.__dict__


def test_a_subclass_is_a_new_version_of_the_same_saga() -> None:
    class OrderFulfilmentV2(OrderFulfilment):
        version = 2

    assert OrderFulfilmentV2.definition.name == "order_fulfilment"
    assert OrderFulfilmentV2.definition.start_topic == OrderFulfilment.definition.start_topic


def test_retry_policies_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.5)


def test_backoff_grows_exponentially_within_the_jitter_band() -> None:
    policy = RetryPolicy(initial_backoff=timedelta(seconds=1), max_backoff=timedelta(seconds=5))
    assert policy.backoff(1, 0.5) == timedelta(seconds=1)
    assert policy.backoff(3, 0.5) == timedelta(seconds=4)
    assert policy.backoff(10, 0.5) == timedelta(seconds=5)
    assert policy.backoff(1, 0.0) == timedelta(seconds=0.8)
    assert policy.backoff(1, 0.999) <= timedelta(seconds=1.2)


def test_the_registry_routes_starts_and_versions() -> None:
    class OrderFulfilmentV2(OrderFulfilment):
        version = 2

    registry = SagaRegistry([OrderFulfilment, OrderFulfilmentV2, TripBooking])
    start = PlaceOrder(
        order_id="o", customer_id="c", sku="s", quantity=1, amount_cents=1, address="a"
    )
    assert registry.for_start(start) is OrderFulfilmentV2.definition
    assert registry.get("order_fulfilment", 1) is OrderFulfilment.definition
    assert registry.for_start(ReserveInventory) is None
    assert registry.start_topics == {"order_fulfilment.start", "trip_booking.start"}
    assert "airline.commands" in registry.command_topics
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(OrderFulfilment)
    with pytest.raises(RegistryError, match="no saga order_fulfilment version 7"):
        registry.get("order_fulfilment", 7)


def test_two_sagas_cannot_share_a_start_message() -> None:
    other = define(credit_step(), name="another_saga")
    with pytest.raises(RegistryError, match="already starts saga"):
        SagaRegistry([OrderFulfilment, other])


def test_a_reply_type_can_serve_two_steps() -> None:
    saga = define(
        credit_step(),
        step("reserve_inventory", ReserveInventory, to="inv", success=InventoryReserved, timeout=T),
    )
    assert list(saga.definition.steps) == ["reserve_credit", "reserve_inventory"]
