"""Messages of the order fulfilment saga (schemas in ``schemas/examples/order_fulfilment/``).

Participants (credit, inventory, shipping services) consume the commands and reply with the
events; the Avro schemas are what services in other languages code against.
"""

from __future__ import annotations

from orchestrator.saga import Message

_NS = "saga.examples.order"


class PlaceOrder(Message, avro_name=f"{_NS}.PlaceOrder"):
    order_id: str
    customer_id: str
    sku: str
    quantity: int
    amount_cents: int
    address: str


class ReserveCredit(Message, avro_name=f"{_NS}.ReserveCredit"):
    order_id: str
    customer_id: str
    amount_cents: int


class CreditReserved(Message, avro_name=f"{_NS}.CreditReserved"):
    order_id: str
    reservation_id: str


class CreditRejected(Message, avro_name=f"{_NS}.CreditRejected"):
    order_id: str
    reason: str


class ReleaseCredit(Message, avro_name=f"{_NS}.ReleaseCredit"):
    order_id: str
    customer_id: str
    amount_cents: int
    credit_reservation_id: str | None = None


class CreditReleased(Message, avro_name=f"{_NS}.CreditReleased"):
    order_id: str


class ReserveInventory(Message, avro_name=f"{_NS}.ReserveInventory"):
    order_id: str
    sku: str
    quantity: int


class InventoryReserved(Message, avro_name=f"{_NS}.InventoryReserved"):
    order_id: str
    reservation_id: str


class InventoryUnavailable(Message, avro_name=f"{_NS}.InventoryUnavailable"):
    order_id: str
    reason: str


class ReleaseInventory(Message, avro_name=f"{_NS}.ReleaseInventory"):
    order_id: str
    sku: str
    quantity: int
    inventory_reservation_id: str | None = None


class InventoryReleased(Message, avro_name=f"{_NS}.InventoryReleased"):
    order_id: str


class ScheduleShipment(Message, avro_name=f"{_NS}.ScheduleShipment"):
    order_id: str
    sku: str
    quantity: int
    address: str


class ShipmentScheduled(Message, avro_name=f"{_NS}.ShipmentScheduled"):
    order_id: str
    shipment_id: str


class ShipmentRejected(Message, avro_name=f"{_NS}.ShipmentRejected"):
    order_id: str
    reason: str


class CancelShipment(Message, avro_name=f"{_NS}.CancelShipment"):
    order_id: str
    shipment_id: str | None = None


class ShipmentCancelled(Message, avro_name=f"{_NS}.ShipmentCancelled"):
    order_id: str
