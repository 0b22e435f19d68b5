"""Simulated credit, inventory and shipping services for the order saga: what a service team
writes with the participant SDK, used by the demo, the integration tests and the load tests.

Each handler records its effect in `participant_effects` through the inbox transaction's
connection, so an effect and its "handled" mark commit together: a redelivered command finds
its mark and never applies twice, which the tests check by counting effects.

Outcomes are pseudo-random but reproducible: drawn from (seed, service, order id), so a rerun
of the demo with the same seed fails the same orders.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from opentelemetry.trace import Tracer

from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.participant import CommandContext, Inbox, Participant
from orchestrator.saga import Message, Saga
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import (
    CreditRejected,
    CreditReleased,
    CreditReserved,
    InventoryReleased,
    InventoryReserved,
    InventoryUnavailable,
    ShipmentCancelled,
    ShipmentRejected,
    ShipmentScheduled,
)

SERVICES: Final = ("credit", "inventory", "shipping")
_IDS: Final = uuid.UUID("a4f0c6d2-93e1-4b7a-8c25-61d9e3f0b7a8")

EFFECTS_DDL: Final = """
CREATE TABLE IF NOT EXISTS participant_effects (
    service    text        NOT NULL,
    message_id text        NOT NULL,
    order_id   text        NOT NULL,
    action     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, message_id)
)
"""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a simulated service misbehaves. Rates are fractions of commands, 0.0 to 1.0."""

    failure_rate: float = 0.0  # answered with the step's failure reply (a business "no")
    silence_rate: float = 0.0  # never answered: the saga's step timeout and retry kick in
    latency_s: float = 0.0  # added per command (keep 0 for throughput runs)
    seed: int = 7
    # Called inside the handler of every forward command before it decides anything: a test
    # holds a handler there (a participant that is slow rather than silent) for as long as
    # it needs. Runs inside the inbox transaction, so the step's key stays claimed meanwhile.
    hold: Callable[[CommandContext], None] | None = None


def _draw(behaviour: Behaviour, service: str, order_id: str, attempt: int | None) -> float:
    return random.Random(f"{behaviour.seed}:{service}:{order_id}:{attempt}").random()


def _effect(ctx: CommandContext, service: str, order_id: str, action: str) -> None:
    if ctx.connection is not None:
        ctx.connection.execute(
            "INSERT INTO participant_effects (service, message_id, order_id, action) "
            "VALUES (%s, %s, %s, %s)",
            (service, ctx.message_id, order_id, action),
        )


def _id(kind: str, order_id: str) -> str:
    return str(uuid.uuid5(_IDS, f"{kind}:{order_id}"))


def order_service(
    service: str,
    *,
    settings: Settings,
    codec: Codec,
    inbox: Inbox,
    behaviour: Behaviour,
    saga: type[Saga] = OrderFulfilment,
    compensations_only: bool = False,
    tracer: Tracer | None = None,
) -> Participant:
    """One simulated service of the order saga as a Participant, ready to `run`.

    `saga` may be a variant of OrderFulfilment with other topics (tests isolate runs so).
    `compensations_only` registers only the undo handler: an instance that sees compensations
    before any command (tests of a compensation overtaking its command)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    participant = Participant(service, settings=settings, codec=codec, inbox=inbox, tracer=tracer)
    step_name = {"credit": "reserve_credit", "inventory": "reserve_inventory"}.get(
        service, "schedule_shipment"
    )

    def act(ctx: CommandContext, order_id: str) -> tuple[bool, bool]:
        """(answer, succeed) for a forward command."""
        if behaviour.hold is not None:
            behaviour.hold(ctx)
        if behaviour.latency_s:
            time.sleep(behaviour.latency_s)
        draw = _draw(behaviour, service, order_id, ctx.attempt)
        if draw < behaviour.silence_rate:
            return False, False
        return True, draw >= behaviour.silence_rate + behaviour.failure_rate

    def forward(command: Message, ctx: CommandContext) -> Message | None:
        order_id = str(getattr(command, "order_id"))  # noqa: B009 - every order command has it
        answer, succeed = act(ctx, order_id)
        if not answer:
            return None
        if not succeed:
            reason = f"{service} declined (simulated)"
            return {
                "credit": CreditRejected(order_id=order_id, reason=reason),
                "inventory": InventoryUnavailable(order_id=order_id, reason=reason),
                "shipping": ShipmentRejected(order_id=order_id, reason=reason),
            }[service]
        _effect(ctx, service, order_id, "reserve")
        if service == "credit":
            return CreditReserved(order_id=order_id, reservation_id=_id("credit", order_id))
        if service == "inventory":
            return InventoryReserved(order_id=order_id, reservation_id=_id("stock", order_id))
        return ShipmentScheduled(order_id=order_id, shipment_id=_id("shipment", order_id))

    def undo(command: Message, ctx: CommandContext) -> Message:
        order_id = str(getattr(command, "order_id"))  # noqa: B009
        _effect(ctx, service, order_id, "release")
        return {
            "credit": CreditReleased(order_id=order_id),
            "inventory": InventoryReleased(order_id=order_id),
            "shipping": ShipmentCancelled(order_id=order_id),
        }[service]

    if not compensations_only:
        participant.executes(saga, step_name)(forward)
    participant.compensates(saga, step_name)(undo)
    return participant
