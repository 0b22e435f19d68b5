"""Test-only message classes bound to tests/unit/codec/schemas/*.avsc.

Shared by the unit and integration codec tests (the integration conftest puts this directory on
sys.path), so both import one module and the Avro names are bound once.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.messages import Message, register_schema_dir

SCHEMA_DIR = Path(__file__).parent / "schemas"
register_schema_dir(SCHEMA_DIR)


class Priority(enum.StrEnum):
    LOW = "LOW"
    HIGH = "HIGH"


class Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    unit_price: Decimal


class ReserveStock(Message, avro_name="saga.test.codec.ReserveStock"):
    order_id: str
    quantity: int = Field(gt=0)  # not expressible in Avro: valid Avro can still fail here
    priority: Priority = Priority.LOW
    lines: tuple[Line, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    requested_at: datetime
    request_id: UUID
    note: str | None = None
    backup_line: Line | None = None


class StockReserved(Message, avro_name="saga.test.codec.StockReserved"):
    order_id: str
    reservation_id: str


def typical_command(n: int = 0) -> ReserveStock:
    """A command of realistic size: the benchmark's and the round-trip tests' payload."""
    return ReserveStock(
        order_id=f"order-{n:08d}",
        quantity=3,
        priority=Priority.HIGH,
        lines=(
            Line(sku="SKU-RED-42", unit_price=Decimal("19.99")),
            Line(sku="SKU-BLUE-7", unit_price=Decimal("5.00")),
        ),
        attributes={"channel": "web", "region": "eu-west"},
        requested_at=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        request_id=UUID(int=n),
        note="leave at the door",
    )
