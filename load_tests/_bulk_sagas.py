"""A store of a million valid saga events, written in a minute: for the audit and verify benches.

Going through Kafka and the worker would take hours at the worker's rate; the audit only needs
histories the real decider would write, correctly chained. So two orders are decided once by
the test kit (one completed, one compensated after its shipment was rejected), and every
saga of the store is one of them with its own business key: the key, the saga id and every
id derived from them (message ids, step keys, timer ids, reservation ids) are substituted in
the events' canonical JSON, times are shifted, the chain is sealed in Python, and the rows go
in with COPY. The projections are then folded by `rebuild`, as after an import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from event_store import GENESIS_HASH, canonical_json
from orchestrator.archive.scanning import event_bytes
from orchestrator.projections import rebuild
from orchestrator.saga import SagaRegistry, SagaStatus, saga_id_for
from orchestrator.saga.events import SagaEvent
from orchestrator.testing import SagaTestKit
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

TEMPLATE_KEY = "bulk-template-0000000"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COPY_SQL = (
    "COPY events (stream_id, stream_type, version, event_type, schema_version, data, metadata, "
    "recorded_at, hash) FROM STDIN"
)
START = datetime(2026, 11, 1, tzinfo=UTC)


def _order(key: str) -> PlaceOrder:
    return PlaceOrder(
        order_id=key, customer_id="c-bulk", sku="sku-1", quantity=1, amount_cents=1999, address="a"
    )


def _completed() -> list[SagaEvent]:
    run = SagaTestKit(OrderFulfilment).start(_order(TEMPLATE_KEY))
    run.when(CreditReserved(order_id=TEMPLATE_KEY, reservation_id=_fake_id("credit")))
    run.when(InventoryReserved(order_id=TEMPLATE_KEY, reservation_id=_fake_id("inventory")))
    run.when(ShipmentScheduled(order_id=TEMPLATE_KEY, shipment_id=_fake_id("shipment")))
    assert run.status is SagaStatus.COMPLETED
    return run.history


def _compensated() -> list[SagaEvent]:
    run = SagaTestKit(OrderFulfilment).start(_order(TEMPLATE_KEY))
    run.when(CreditReserved(order_id=TEMPLATE_KEY, reservation_id=_fake_id("credit")))
    run.when(InventoryReserved(order_id=TEMPLATE_KEY, reservation_id=_fake_id("inventory")))
    run.when(ShipmentRejected(order_id=TEMPLATE_KEY, reason="no carrier"))
    run.when(InventoryReleased(order_id=TEMPLATE_KEY))
    run.when(CreditReleased(order_id=TEMPLATE_KEY))
    assert run.status is SagaStatus.COMPENSATED
    return run.history


def _fake_id(what: str) -> str:
    digest = hashlib.sha256(f"{TEMPLATE_KEY}/{what}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


@dataclass(frozen=True)
class Template:
    """One decided history as (event type, canonical data, canonical metadata) per event."""

    events: tuple[tuple[str, str, str], ...]


def _template(history: Sequence[SagaEvent]) -> Template:
    saga_id = saga_id_for(OrderFulfilment.definition.name, TEMPLATE_KEY)
    rows = []
    for event in history:
        inbound = event.inbound
        metadata = {"causation_id": inbound.message_id if inbound else saga_id}
        metadata["correlation_id"] = saga_id
        if inbound is not None:
            metadata["message_id"] = inbound.message_id
        new = event.to_new_event(metadata)
        rows.append((new.event_type, canonical_json(new.data), canonical_json(new.metadata)))
    return Template(tuple(rows))


def templates() -> tuple[Template, Template]:
    return _template(_completed()), _template(_compensated())


def _substituted(template: Template, key: str) -> list[tuple[str, str, str]]:
    """The template's events for business key `key`: every id it holds replaced by one of
    this saga's own (the saga id as the decider derives it, the others by a digest)."""
    template_id = saga_id_for(OrderFulfilment.definition.name, TEMPLATE_KEY)
    saga_id = saga_id_for(OrderFulfilment.definition.name, key)
    mapping: dict[str, str] = {template_id: saga_id}

    def new_id(match: re.Match[str]) -> str:
        old = match.group(0)
        if old not in mapping:
            digest = hashlib.sha256(f"{saga_id}/{old}".encode()).hexdigest()
            mapping[old] = (
                f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
            )
        return mapping[old]

    out = []
    for event_type, data, metadata in template.events:
        out.append(
            (
                event_type,
                _UUID.sub(new_id, data.replace(TEMPLATE_KEY, key)),
                _UUID.sub(new_id, metadata.replace(TEMPLATE_KEY, key)),
            )
        )
    return out


def _copy_lines(sagas: int, first: int) -> Iterator[bytes]:
    """COPY text lines of sagas `first`..`first + sagas - 1`: every third is compensated."""
    completed, compensated = templates()
    saga_type = OrderFulfilment.definition.name
    for n in range(first, first + sagas):
        key = f"bulk-{n:016d}"
        saga_id = saga_id_for(saga_type, key)
        template = compensated if n % 3 == 0 else completed
        previous = GENESIS_HASH
        base = START + timedelta(milliseconds=n)
        lines = []
        for version, (event_type, data, metadata) in enumerate(
            _substituted(template, key), start=1
        ):
            at = base + timedelta(microseconds=version)
            at_text = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            content = event_bytes(
                stream_id=saga_id,
                stream_type=saga_type,
                version=version,
                event_type=event_type,
                schema_version=1,
                data_json=data,
                metadata_json=metadata,
                recorded_at=at_text,
            )
            previous = hashlib.sha256(bytes.fromhex(previous) + content).hexdigest()
            # COPY's text format: a backslash is the one character these rows may hold that
            # it escapes (no tab or newline survives canonical JSON unescaped).
            lines.append(
                "\t".join(
                    (
                        saga_id,
                        saga_type,
                        str(version),
                        event_type,
                        "1",
                        data.replace("\\", "\\\\"),
                        metadata.replace("\\", "\\\\"),
                        at_text,
                        previous,
                    )
                )
            )
        yield ("\n".join(lines) + "\n").encode("utf-8")


def fill(app_url: str, owner_url: str, events: int) -> tuple[int, int]:
    """Write at least `events` events (whole sagas) and fold the projections; (sagas, events)."""
    completed, compensated = (len(t.events) for t in templates())
    per_three = compensated + 2 * completed  # sagas n, n+1, n+2: one compensated in three
    sagas = 3 * -(-events // per_three)
    written = 0
    with psycopg.connect(app_url) as conn, conn.cursor() as cursor:
        with cursor.copy(_COPY_SQL) as copy:
            for chunk in _copy_lines(sagas, 0):
                copy.write(chunk)
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        written = int(row[0]) if row else 0
    rebuild(owner_url, registry=SagaRegistry([OrderFulfilment]), batch_size=10_000)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE saga_instances")
        conn.execute("VACUUM ANALYZE timers")
    return sagas, written
