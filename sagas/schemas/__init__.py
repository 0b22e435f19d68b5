"""The example sagas' Avro schemas, written from their Message classes (one directory per saga).

python -m sagas.schemas           # rewrite the files from the classes
python -m sagas.schemas --check   # exit 1, naming each stale file, if any differs
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.saga import generated_schemas
from sagas.order_fulfilment import OrderFulfilment
from sagas.trip_booking import TripBooking

EXAMPLE_SAGAS = (OrderFulfilment, TripBooking)


def expected() -> dict[Path, str]:
    return generated_schemas(EXAMPLE_SAGAS)
