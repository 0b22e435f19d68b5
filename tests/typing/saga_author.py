"""What a saga author writes, as mypy must see it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from orchestrator.saga import Saga, compensation, either, parallel, step
from sagas.order_fulfilment import OrderState
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
from sagas.trip_booking import TripState

T = timedelta(seconds=5)


def credit_reserved(state: OrderState, reply: CreditReserved) -> OrderState:
    return state.model_copy(update={"credit_reservation_id": reply.reservation_id})


def either_reserved(state: OrderState, reply: CreditReserved | InventoryReserved) -> OrderState:
    return state


def trip_hook(state: TripState, reply: CreditReserved) -> TripState:
    return state


class Typed(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "named_hook",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            failure=CreditRejected,
            on_success=credit_reserved,
            on_failure=lambda s, r: s.model_copy(update={"address": r.reason}),
            compensate=compensation(
                ReleaseCredit,
                confirmed=CreditReleased,
                build=lambda s, r: ReleaseCredit(
                    order_id=s.order_id,
                    customer_id=s.customer_id,
                    amount_cents=s.amount_cents,
                    credit_reservation_id=r.reservation_id if r else None,
                ),
            ),
            timeout=T,
        ),
        step(
            "typed_lambdas",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            build=lambda s: ReserveCredit(
                order_id=s.order_id, customer_id=s.customer_id, amount_cents=s.amount_cents
            ),
            on_success=lambda s, r: s.model_copy(
                update={"credit_reservation_id": r.reservation_id}
            ),
            when=lambda s: s.amount_cents > 0,
            timeout=T,
        ),
        parallel(
            "group",
            step(
                "two_success_types",
                ReserveInventory,
                to="inventory",
                success=either(CreditReserved, InventoryReserved),
                on_success=either_reserved,
                timeout=T,
            ),
        ),
    )


class OnlyStart(Saga[PlaceOrder]):
    """``Saga[Start]``: the state is the start command."""

    business_key = "order_id"
    steps = (
        step(
            "reserve_credit",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            when=lambda s: s.quantity > 0,  # s is the PlaceOrder
            timeout=T,
        ),
    )


# --- wrong usage: each line must stay an error -------------------------------------------------


class HookOfAnotherState(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            on_success=trip_hook,  # type: ignore[arg-type]
            timeout=T,
        ),
    )


class HookOfAnotherReply(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=InventoryReserved,
            on_success=credit_reserved,  # type: ignore[arg-type]
            timeout=T,
        ),
    )


class BuilderOfAnotherCommand(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            build=lambda s: ReserveInventory(order_id="o", sku="s", quantity=1),  # type: ignore[arg-type, return-value]
            timeout=T,
        ),
    )


class ConditionOnAMissingField(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            when=lambda s: s.loyalty_tier == "gold",  # type: ignore[attr-defined]
            timeout=T,
        ),
    )


class CompensationReadsAFieldTheReplyLacks(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            compensate=compensation(
                ReleaseCredit,
                confirmed=CreditReleased,
                build=lambda s, r: ReleaseCredit(
                    order_id=s.order_id,
                    customer_id=s.customer_id,
                    amount_cents=s.amount_cents,
                    credit_reservation_id=r.shipment_id if r else None,  # type: ignore[attr-defined]
                ),
            ),
            timeout=T,
        ),
    )


class CompensationMayGetNoReply(Saga[PlaceOrder, OrderState]):
    business_key = "order_id"
    steps = (
        step(
            "x",
            ReserveCredit,
            to="credit",
            success=CreditReserved,
            compensate=compensation(
                ReleaseCredit,
                confirmed=CreditReleased,
                build=lambda s, r: ReleaseCredit(
                    order_id=s.order_id,
                    customer_id=s.customer_id,
                    amount_cents=s.amount_cents,
                    credit_reservation_id=r.reservation_id,  # type: ignore[union-attr]
                ),
            ),
            timeout=T,
        ),
    )


class NotAState:
    pass


class StateMustBeAModel(Saga[PlaceOrder, NotAState]):  # type: ignore[type-var]
    business_key = "order_id"


class StartMustBeAMessage(Saga[OrderState, OrderState]):  # type: ignore[type-var]
    business_key = "order_id"


_ = BaseModel
