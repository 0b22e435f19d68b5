"""A rolling deploy of a saga's version 2, with two workers of different code in one consumer
group: worker A (a `sagactl worker` process) registers only v1 of the order saga, worker B (in
this process) registers v1 and v2 and starts new sagas on v2 (SAGA_START_VERSIONS).

A meets v2 sagas on the partitions it owns. It must leave their messages for a worker that has
v2: nothing dead-lettered, nothing parked, no offset committed past them, a metric and a log line
naming the saga type and the missing version. When A leaves the group, B takes its partitions
over from the committed offsets and completes every saga exactly once.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.saga import SagaRegistry
from sagas.order_fulfilment import OrderFulfilment
from tests.integration.worker.conftest import REPO, World, assert_single_decisions
from tests.support import eventually

ORDERS = 16
HOLD_LOG = "saga version missing; partition held for a worker that has it"


def _version_2(v1: type[OrderFulfilment]) -> type[OrderFulfilment]:
    """The same order saga (name, topics, steps) at definition version 2."""
    return type(f"{v1.__name__}_v2", (v1,), {"__module__": __name__, "version": 2})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    _, text = _get(port, "/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _wait(condition: Callable[[], bool], what: str, world: World, timeout: float = 60.0) -> None:
    eventually(condition, what, timeout=timeout, interval=0.2, check=world.check_alive)


def _log_lines(world: World, label: str) -> list[dict[str, Any]]:
    lines = []
    for line in (world.log_dir / f"worker-{label}.log").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _spawn_v1_worker(world: World, label: str, **env: str) -> subprocess.Popen[bytes]:
    """`sagactl worker` running the isolated order saga at version 1 only (its SAGA_SAGAS)."""
    log = (world.log_dir / f"worker-{label}.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "worker"],
        cwd=REPO,
        env={**world.child_env(), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    world.children.append(child)
    return child


@pytest.mark.timeout(240)
def test_a_worker_without_v2_leaves_v2_sagas_to_the_worker_that_has_it(world: World) -> None:
    v1 = world.saga
    v2 = _version_2(v1)
    world.registry = SagaRegistry([v1, v2])
    world.settings = world.settings.model_copy(update={"start_versions": {v1.name: 2}})
    b = world.start_worker("b")
    _wait(lambda: b.assigned() == 8, "worker B owns all 8 partitions", world)
    saga_ids = world.start_orders(ORDERS)
    for saga_id in saga_ids:
        world.wait_events(saga_id, lambda rows: len(rows) >= 2, "start")
    started = [r for r in world.events(saga_ids) if r.event_type == "SagaStarted"]
    assert {r.data["definition_version"] for r in started} == {2}
    world.wait_committed([v1.start_topic])

    # Worker A joins the group and takes over some partitions (cooperative rebalance).
    port = _free_port()
    a = _spawn_v1_worker(world, "a", SAGA_METRICS_PORT=str(port))

    def a_is_ready() -> bool:
        assert a.poll() is None, f"worker A exited {a.returncode}: {world.child_log('a')}"
        try:
            return _get(port, "/readyz")[0] == 200
        except OSError:
            return False

    _wait(a_is_ready, "worker A owns partitions", world)
    _wait(lambda: b.assigned() < 8, "worker B gave partitions up", world)

    # Replies (and, on start partitions, a client's retried starts) now reach both workers.
    world.start_participants()
    world.start_orders(ORDERS)
    missing = ("saga_worker_missing_version_total", (("saga_type", v1.name), ("version", "2")))
    _wait(lambda: _samples(port).get(missing, 0) >= 1, "worker A holds a v2 message", world)
    # Let B finish what it owns; what A holds stays where it is. A wait on purpose: what follows
    # asserts that nothing moves at A (no dead letter, no commit past the held message).
    time.sleep(3)

    samples = _samples(port)
    assert samples[("saga_worker_held_partitions", ())] >= 1
    dead_lettered_by_a = sum(
        value
        for (name, labels), value in samples.items()
        if name == "saga_messages_consumed_total" and ("outcome", "dead_lettered") in labels
    )
    assert dead_lettered_by_a == 0
    holds = [line for line in _log_lines(world, "a") if line.get("event") == HOLD_LOG]
    assert holds, world.child_log("a")
    assert {(line["saga_type"], line["missing_version"]) for line in holds} == {(v1.name, 2)}
    held_at = {(line["topic"], line["partition"]): line["offset"] for line in holds}
    # The group's committed offset of each held partition is at most the held message.
    lag = world.committed_lag([v1.start_topic, v1.reply_topic])
    probe = world.consumer()
    try:
        for (topic, partition), offset in held_at.items():
            _low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            assert high - lag[(topic, partition)] <= offset, (topic, partition, offset, lag)
    finally:
        probe.close()
    assert sum(count for _, count in world.dead_letter_counts().items()) == 0
    assert all(r.event_type != "SagaParked" for r in world.events(saga_ids))

    # A leaves the group (SIGTERM: it finishes its batch, commits, leaves). B takes over.
    a.send_signal(signal.SIGTERM)
    assert a.wait(60) == 0, world.child_log("a")
    final = world.wait_for(saga_ids, timeout=90)

    assert Counter(final.values()) == {"completed": ORDERS}
    streams = world.streams(saga_ids)
    assert_single_decisions(streams)
    for saga_id, rows in streams.items():
        kinds = Counter(row.event_type for row in rows)
        assert kinds["SagaStarted"] == 1, saga_id
        assert kinds["SagaCompleted"] == 1, saga_id
        # Each step answered on its first attempt: the held replies themselves were decided.
        assert "StepTimedOut" not in kinds, saga_id
    effects = Counter((service, order, action) for service, _, order, action in world.effects())
    assert len(effects) == 3 * ORDERS
    assert set(effects.values()) == {1}
    assert sum(world.dead_letter_counts().values()) == 0


@pytest.mark.timeout(180)
def test_a_retried_start_of_a_v2_saga_is_held_by_a_worker_without_v2(world: World) -> None:
    v1 = world.saga
    world.registry = SagaRegistry([v1, _version_2(v1)])
    world.settings = world.settings.model_copy(update={"start_versions": {v1.name: 2}})
    b = world.start_worker("b1")
    saga_ids = world.start_orders(4)
    for saga_id in saga_ids:
        world.wait_events(saga_id, lambda rows: len(rows) >= 2, "start")
    world.wait_committed([v1.start_topic])
    b.stop()
    world.workers.remove(b)
    before = {s: len(rows) for s, rows in world.streams(saga_ids).items()}

    # Worker A, alone in the group, meets the client's retried starts: each assumes a new saga,
    # conflicts with the stored v2 stream and is held, not started on v1 nor dead-lettered.
    a = _spawn_v1_worker(world, "a", SAGA_METRICS_PORT=str(_free_port()))
    world.start_orders(4)

    def start_held() -> bool:
        assert a.poll() is None, f"worker A exited {a.returncode}: {world.child_log('a')}"
        lines = [line for line in _log_lines(world, "a") if line.get("event") == HOLD_LOG]
        return any(line["topic"] == v1.start_topic for line in lines)

    _wait(start_held, "worker A holds a start partition", world)
    assert {s: len(rows) for s, rows in world.streams(saga_ids).items()} == before
    assert sum(world.dead_letter_counts().values()) == 0

    # A worker with v2 joins, A leaves: the retried starts are duplicates, nothing changes.
    b = world.start_worker("b2")
    a.send_signal(signal.SIGTERM)
    assert a.wait(60) == 0, world.child_log("a")
    world.wait_committed([v1.start_topic])
    streams = world.streams(saga_ids)
    assert {s: len(rows) for s, rows in streams.items()} == before
    assert all(
        r.data["definition_version"] == 2
        for r in world.events(saga_ids)
        if r.event_type == "SagaStarted"
    )
    duplicates = b.metrics_registry.get_sample_value(
        "saga_messages_consumed_total", {"topic": v1.start_topic, "outcome": "duplicate"}
    )
    assert duplicates == 4
    assert sum(world.dead_letter_counts().values()) == 0


@pytest.mark.parametrize(
    ("pin", "complaint"),
    [
        ("{name}=2", "has no version 2 registered (registered: 1)"),
        ("nonexistent=1", "no saga 'nonexistent' is registered"),
    ],
)
def test_a_pin_the_worker_cannot_honour_is_a_configuration_error(
    world: World, pin: str, complaint: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "worker"],
        cwd=REPO,
        env={**world.child_env(), "SAGA_START_VERSIONS": pin.format(name=world.saga.name)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sagactl: configuration error: SAGA_START_VERSIONS: "), line
    assert complaint in line
