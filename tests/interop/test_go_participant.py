"""The Go inventory service (tests/interop/inventory, written from docs/PROTOCOL.md) in place of
the Python one, through the real broker, the real HTTP schema registry and real PostgreSQL.

Every saga's inventory step runs in Go; credit and shipping are the Python SDK's simulated
services. The audit reads the effects both languages write in one table: one effect per step,
and every reservation the saga did not keep released.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import headers as h
from orchestrator.codec import Codec, CodecSettings, RegistrySettings, connect_registry
from orchestrator.participant import reply_message_id
from orchestrator.saga import CommandRefused, RetryPolicy, step_key_for
from sagas.order_messages import InventoryReleased, ReleaseInventory, ReserveInventory
from sagas.order_services import Behaviour
from tests.integration.registry.server import launched_registry
from tests.integration.worker.conftest import World, WorldFactory, commands
from tests.interop.gobuild import build

REPO = Path(__file__).resolve().parents[2]
DECLINED_QUANTITY = 3  # World.order(i) has quantity 1 + i % 3: every third order is declined


@pytest.fixture(scope="module")
def inventory_binary() -> Path:
    return build("inventory")


class GoWorld:
    """A World whose codecs use an HTTP registry, with the Go inventory service beside it."""

    def __init__(self, world: World, registry_url: str, binary: Path) -> None:
        self.world = world
        self.registry_url = registry_url
        self.binary = binary
        world.codec = Codec(connect_registry(RegistrySettings(url=registry_url)), CodecSettings())
        step = world.saga.definition.steps["reserve_inventory"]
        assert step.compensation is not None
        self.topics = sorted({step.topic, step.compensation.topic})
        self.reply_topic = world.saga.definition.reply_topic

    def start_inventory(self, **settings: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "INVENTORY_KAFKA_BOOTSTRAP": self.world.bootstrap,
            "INVENTORY_TOPICS": ",".join(self.topics),
            "INVENTORY_GROUP": f"participant-inventory-go-{self.world.suffix}",
            "INVENTORY_REGISTRY_URL": self.registry_url,
            "INVENTORY_DATABASE_URL": self.world.owner_url,
            "INVENTORY_SCHEMAS": ",".join(
                str(REPO / d)
                for d in ("sagas/schemas/order_fulfilment", "orchestrator/saga/schemas")
            ),
            **settings,
        }
        log = (self.world.log_dir / "inventory-go.log").open("ab")
        child = subprocess.Popen(
            [str(self.binary)], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.world.children.append(child)
        return child

    def log(self) -> str:
        return (self.world.log_dir / "inventory-go.log").read_text(errors="replace")


@pytest.fixture
def go_world(
    make_world: WorldFactory, inventory_binary: Path, request: pytest.FixtureRequest
) -> Iterator[GoWorld]:
    options = getattr(request, "param", {})
    world = make_world(**options)
    with launched_registry(world.app_url, world.log_dir / "registry") as url:
        yield GoWorld(world, url, inventory_binary)
        world.stop_children()  # before the registry goes: the Go service must not outlive it


def audit_inventory(world: World, statuses: dict[str, str], orders: dict[str, str]) -> Counter[str]:
    """One effect per step, and no reservation left behind; returns the outcome counts.

    `orders` maps saga id to order id."""
    effects = Counter(
        (order_id, action)
        for service, _, order_id, action in world.effects()
        if service == "inventory"
    )
    assert all(count == 1 for count in effects.values()), effects  # nothing doubled
    outcomes: Counter[str] = Counter()
    for saga_id, status in statuses.items():
        reserved = effects[(orders[saga_id], "reserve")]
        released = effects[(orders[saga_id], "release")]
        if status == "completed":
            assert (reserved, released) == (1, 0), (saga_id, reserved, released)
        else:
            assert status == "compensated", (saga_id, status)
            assert reserved == released, (saga_id, reserved, released)  # none left reserved
        outcomes[status if reserved else f"{status}, inventory declined"] += 1
    return outcomes


def test_order_sagas_with_the_go_inventory_service(go_world: GoWorld) -> None:
    world = go_world.world
    go_world.start_inventory(INVENTORY_DECLINE_QUANTITY=str(DECLINED_QUANTITY))
    world.start_participant("credit", Behaviour())
    world.start_participant("shipping", Behaviour(failure_rate=0.3, seed=11))
    world.start_worker()
    count = 60
    began = time.monotonic()
    ids = world.start_orders(count)
    statuses = world.wait_for(ids, timeout=120)
    elapsed = time.monotonic() - began
    orders = {saga_id: world.order(i).order_id for i, saga_id in enumerate(ids)}
    quantities = {saga_id: world.order(i).quantity for i, saga_id in enumerate(ids)}

    outcomes = audit_inventory(world, statuses, orders)
    declined = [s for s in ids if quantities[s] == DECLINED_QUANTITY]
    assert outcomes["compensated, inventory declined"] == len(declined) == count // 3
    assert all(statuses[s] == "compensated" for s in declined)
    assert outcomes["completed"] > 0
    assert outcomes["compensated"] > 0  # shipping refused after the Go service reserved
    releases = commands(world.events(), compensation=True)
    assert any(r.data["step"] == "reserve_inventory" for r in releases)
    assert sum(world.dead_letter_counts().values()) == 0, world.dead_letter_counts()
    # The worker's producer (librdkafka) placed each saga's commands; the Go service's replies
    # land on the same partition number (PROTOCOL.md section 1), so the worker's cache hits.
    command_partitions = {
        (r.header(h.SAGA_ID), r.partition)
        for topic in go_world.topics
        for r in world.read_topic(topic, expected=count)
    }
    go_replies = {
        (r.header(h.SAGA_ID), r.partition)
        for r in world.read_topic(go_world.reply_topic, expected=count)
        if r.header(h.STEP) == "reserve_inventory"
    }
    assert len(go_replies) == count
    assert go_replies <= command_partitions
    print(
        f"\ngo participant: {count} sagas in {elapsed:.1f}s: {dict(outcomes)}",
        flush=True,
    )


# Attempts every 2.2 s, six of them: attempt 2 is asked while attempt 1 is still held, and
# whichever attempt is pending when the held one commits gets the stored reply.
SLOW_STEP = {
    "timeout": timedelta(seconds=2),
    "retry": RetryPolicy(
        max_attempts=6, initial_backoff=timedelta(milliseconds=200), multiplier=1.0, jitter=0.0
    ),
}


@pytest.mark.parametrize("go_world", [SLOW_STEP], indirect=True)
def test_a_retry_of_a_slow_step_gets_the_stored_reply(go_world: GoWorld) -> None:
    """Attempt 1 outlives the 2 s step timeout (held 4 s, key claimed); attempt 2, same step
    key, waits behind it, finds the key taken, and is answered with attempt 1's reply
    re-addressed to attempt 2. Exactly one reservation per saga."""
    world = go_world.world
    go_world.start_inventory(INVENTORY_HOLD_ATTEMPT_1_MS="4000")
    world.start_participant("credit", Behaviour())
    world.start_participant("shipping", Behaviour())
    world.start_worker()
    ids = world.start_orders(2)
    statuses = world.wait_for(ids, timeout=90)
    orders = {saga_id: world.order(i).order_id for i, saga_id in enumerate(ids)}
    assert audit_inventory(world, statuses, orders) == Counter(completed=2)

    issued = [r for r in commands(world.events(), compensation=False)]
    retried = {
        r.stream_id
        for r in issued
        if r.data["step"] == "reserve_inventory" and r.data["attempt"] == 2
    }
    assert retried == set(ids)  # both really were asked twice
    replies = [
        r
        for r in world.read_topic(go_world.reply_topic, expected=4)
        if r.header(h.STEP) == "reserve_inventory"
    ]
    by_attempt = {(r.header(h.SAGA_ID), r.header(h.ATTEMPT)): r for r in replies}
    for saga_id in ids:
        first, second = by_attempt[(saga_id, "1")], by_attempt[(saga_id, "2")]
        assert second.value == first.value  # the stored reply, byte for byte
        assert second.header(h.CAUSATION_ID) != first.header(h.CAUSATION_ID)
        assert second.header(h.MESSAGE_ID) == reply_message_id(second.header(h.CAUSATION_ID) or "")
    assert go_world.log().count("repeat answered with the stored reply") >= 2


def command_headers(
    world: GoWorld, saga_id: str, *, compensation: bool, message_id: str
) -> list[tuple[str, str | bytes]]:
    return [
        (h.MESSAGE_ID, message_id),
        (h.SAGA_ID, saga_id),
        (h.SAGA_TYPE, world.world.saga.definition.name),
        (h.STEP, "reserve_inventory"),
        (h.ATTEMPT, "1"),
        (h.STEP_KEY, step_key_for(saga_id, "reserve_inventory", compensation=compensation)),
        (h.COMMAND_KIND, h.COMMAND_KIND_COMPENSATE if compensation else h.COMMAND_KIND_EXECUTE),
        (h.REPLY_TOPIC, world.reply_topic),
        (h.CORRELATION_ID, f"corr-{saga_id}"),
    ]


def test_a_compensation_first_makes_the_late_command_refused(go_world: GoWorld) -> None:
    world = go_world.world
    go_world.start_inventory()
    topic = go_world.topics[0]
    saga_id, order_id = f"saga-{world.suffix}", f"order-{world.suffix}"
    release = ReleaseInventory(order_id=order_id, sku="sku-1", quantity=1)
    reserve = ReserveInventory(order_id=order_id, sku="sku-1", quantity=1)
    sent = [
        (release, True, "m-release"),
        (reserve, False, "m-late-execute"),
        (reserve, False, "m-redelivered-execute"),  # another attempt of the refused step
    ]
    for message, compensation, message_id in sent:
        world.produce(
            topic,
            world.codec.encode(topic, message),
            key=saga_id.encode(),
            headers=command_headers(
                go_world, saga_id, compensation=compensation, message_id=message_id
            ),
        )
    replies = world.read_topic(go_world.reply_topic, expected=3)
    decoded = {
        r.header(h.CAUSATION_ID): world.codec.decode(
            go_world.reply_topic, r.value, accepted=[InventoryReleased, CommandRefused]
        )
        for r in replies
    }
    assert decoded["m-release"] == InventoryReleased(order_id=order_id)
    refused = CommandRefused(saga_id=saga_id, step="reserve_inventory", reason="compensated")
    assert decoded["m-late-execute"] == refused
    assert decoded["m-redelivered-execute"] == refused
    for r in replies:
        assert r.key == saga_id.encode()
        assert r.header(h.CORRELATION_ID) == f"corr-{saga_id}"
        assert r.header(h.MESSAGE_ID) == reply_message_id(r.header(h.CAUSATION_ID) or "")
    effects = [e for e in world.effects() if e[0] == "inventory"]
    assert [(e[2], e[3]) for e in effects] == [(order_id, "release")]  # never reserved


def test_poison_goes_to_the_dead_letter_topic_with_its_reason(go_world: GoWorld) -> None:
    world = go_world.world
    go_world.start_inventory()
    topic = go_world.topics[0]
    good = world.codec.encode(topic, ReserveInventory(order_id="p-1", sku="s", quantity=1))
    headers = command_headers(
        go_world, f"saga-p-{world.suffix}", compensation=False, message_id="m-poison"
    )
    poison = {
        b"\x01" + good[1:]: "wrong_magic_byte",
        good + b"xyz": "trailing_bytes",
        good[:3]: "truncated_header",
    }
    partitions = {}
    for value in poison:
        partitions[value] = world.produce(topic, value, key=b"k", headers=headers)[0]
    letters = world.read_topic(f"{topic}.dlt", expected=len(poison))
    assert len(letters) == len(poison)
    for letter in letters:
        assert letter.value is not None
        reason = poison[letter.value]
        assert letter.partition == partitions[letter.value]
        assert letter.header("dlt.original.topic") == topic
        message = letter.header("dlt.exception.message") or ""
        assert message.startswith(f"{reason}: "), message
        assert letter.header(h.MESSAGE_ID) == "m-poison"  # the original headers kept
    trailing = next(x for x in letters if poison[x.value or b""] == "trailing_bytes")
    assert "3 trailing bytes" in (trailing.header("dlt.exception.message") or "")
    assert not [e for e in world.effects() if e[0] == "inventory"]
