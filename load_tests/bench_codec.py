"""Codec throughput: encode and decode records/s for typical commands, on one core.

Runs the real path a worker runs: confluent_kafka's AvroSerializer to encode, the codec's strict
body reader (fastavro, one body and nothing after it) to decode, with the built-in registry in
PostgreSQL (or SAGA_SCHEMA_REGISTRY_URL). The first message of each type registers and fetches
its schema; the timed loops then hit only the in-process caches, which is the steady state of a
worker.

    .venv/bin/python load_tests/bench_codec.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.codec import Codec, CodecSettings, RegistrySettings, connect_registry
from orchestrator.messages import Message
from sagas.order_messages import PlaceOrder, ReserveInventory


@dataclass(frozen=True)
class Result:
    name: str
    size_bytes: int
    encode_per_second: float
    decode_per_second: float


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls per second of `action`, measured in batches until `seconds` have passed."""
    done = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(1000):
            action()
        done += 1000
        elapsed = time.perf_counter() - start
    return done / elapsed


def bench(codec: Codec, topic: str, message: Message, seconds: float) -> Result:
    data = codec.encode(topic, message)  # registers the schema: not timed
    accepted = (type(message),)
    assert codec.decode(topic, data, accepted=accepted) == message
    return Result(
        name=message.avro_name,
        size_bytes=len(data),
        encode_per_second=rate(lambda: codec.encode(topic, message), seconds),
        decode_per_second=rate(lambda: codec.decode(topic, data, accepted=accepted), seconds),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()

    registry = connect_registry(RegistrySettings.from_env())
    codec = Codec(registry, CodecSettings.from_env())
    # A fixed topic: reruns find their schemas already registered and add nothing to the
    # (append-only) registry; no message is produced to it.
    topic = "bench.codec"
    messages: list[Message] = [
        ReserveInventory(order_id="order-00012345", sku="SKU-RED-42", quantity=3),
        PlaceOrder(
            order_id="order-00012345",
            customer_id="customer-991",
            sku="SKU-RED-42",
            quantity=3,
            amount_cents=5997,
            address="12 Rue de la Paix, 75002 Paris, France",
        ),
    ]
    print(f"{'message':40} {'bytes':>5} {'encode/s':>10} {'decode/s':>10}")
    for message in messages:
        result = bench(codec, topic, message, args.seconds)
        print(
            f"{result.name:40} {result.size_bytes:>5} {result.encode_per_second:>10,.0f} "
            f"{result.decode_per_second:>10,.0f}"
        )
    registry.close()


if __name__ == "__main__":
    main()
