"""Messages of the order fulfilment saga: the source of the `.avsc` files in
``sagas/schemas/order_fulfilment/`` (``python -m sagas.schemas`` writes them).

Participants (credit, inventory, shipping services) consume the commands and reply with the
events; the Avro schemas are what services in other languages code against.
"""

from __future__ import annotations

from orchestrator.saga import Long, Message

_NS = "saga.examples.order"


class PlaceOrder(Message, avro_name=f"{_NS}.PlaceOrder"):
    """Start command of the order fulfilment saga."""

    order_id: str
    """Id of the order (the saga's business key)."""
    customer_id: str
    """Id of the customer who placed the order."""
    sku: str
    """Stock keeping unit of the ordered item."""
    quantity: int
    """Number of items ordered."""
    amount_cents: Long
    """Order total in cents."""
    address: str
    """Delivery address."""


class ReserveCredit(Message, avro_name=f"{_NS}.ReserveCredit"):
    """Command to the credit service: hold the order amount on the customer's credit."""

    order_id: str
    """Id of the order (the saga's business key)."""
    customer_id: str
    """Id of the customer who placed the order."""
    amount_cents: Long
    """Order total in cents."""


class CreditReserved(Message, avro_name=f"{_NS}.CreditReserved"):
    """Reply: the credit was reserved."""

    order_id: str
    """Id of the order (the saga's business key)."""
    reservation_id: str
    """Id of the reservation made by the participant."""


class CreditRejected(Message, avro_name=f"{_NS}.CreditRejected"):
    """Reply: the credit could not be reserved."""

    order_id: str
    """Id of the order (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class ReleaseCredit(Message, avro_name=f"{_NS}.ReleaseCredit"):
    """Compensation: release a credit reservation made for the order."""

    order_id: str
    """Id of the order (the saga's business key)."""
    customer_id: str
    """Id of the customer who placed the order."""
    amount_cents: Long
    """Order total in cents."""
    credit_reservation_id: str | None = None
    """Reservation to release, if the credit service reported one."""


class CreditReleased(Message, avro_name=f"{_NS}.CreditReleased"):
    """Reply: the credit reservation was released (or never existed)."""

    order_id: str
    """Id of the order (the saga's business key)."""


class ReserveInventory(Message, avro_name=f"{_NS}.ReserveInventory"):
    """Command to the inventory service: set aside the ordered items."""

    order_id: str
    """Id of the order (the saga's business key)."""
    sku: str
    """Stock keeping unit of the ordered item."""
    quantity: int
    """Number of items ordered."""


class InventoryReserved(Message, avro_name=f"{_NS}.InventoryReserved"):
    """Reply: the items were reserved."""

    order_id: str
    """Id of the order (the saga's business key)."""
    reservation_id: str
    """Id of the reservation made by the participant."""


class InventoryUnavailable(Message, avro_name=f"{_NS}.InventoryUnavailable"):
    """Reply: the items could not be reserved."""

    order_id: str
    """Id of the order (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class ReleaseInventory(Message, avro_name=f"{_NS}.ReleaseInventory"):
    """Compensation: return reserved items to stock."""

    order_id: str
    """Id of the order (the saga's business key)."""
    sku: str
    """Stock keeping unit of the ordered item."""
    quantity: int
    """Number of items ordered."""
    inventory_reservation_id: str | None = None
    """Reservation to release, if the inventory service reported one."""


class InventoryReleased(Message, avro_name=f"{_NS}.InventoryReleased"):
    """Reply: the items were returned to stock (or never reserved)."""

    order_id: str
    """Id of the order (the saga's business key)."""


class ScheduleShipment(Message, avro_name=f"{_NS}.ScheduleShipment"):
    """Command to the shipping service: schedule delivery of the order."""

    order_id: str
    """Id of the order (the saga's business key)."""
    sku: str
    """Stock keeping unit of the ordered item."""
    quantity: int
    """Number of items ordered."""
    address: str
    """Delivery address."""


class ShipmentScheduled(Message, avro_name=f"{_NS}.ShipmentScheduled"):
    """Reply: the shipment was scheduled."""

    order_id: str
    """Id of the order (the saga's business key)."""
    shipment_id: str
    """Id of the scheduled shipment."""


class ShipmentRejected(Message, avro_name=f"{_NS}.ShipmentRejected"):
    """Reply: the shipment could not be scheduled."""

    order_id: str
    """Id of the order (the saga's business key)."""
    reason: str
    """Why the request was refused, in the participant's words."""


class CancelShipment(Message, avro_name=f"{_NS}.CancelShipment"):
    """Compensation: cancel the shipment scheduled for the order."""

    order_id: str
    """Id of the order (the saga's business key)."""
    shipment_id: str | None = None
    """Id of the scheduled shipment."""


class ShipmentCancelled(Message, avro_name=f"{_NS}.ShipmentCancelled"):
    """Reply: the shipment was cancelled (or never scheduled)."""

    order_id: str
    """Id of the order (the saga's business key)."""
