"""The worker's leader writes signed anchors on its own, every SAGA_ANCHOR_INTERVAL_S."""

from __future__ import annotations

import time

from event_store.postgres import PostgresEventStore
from orchestrator.archive import decode_anchor
from orchestrator.archive._kafka import latest_anchor
from tests.integration.archive.conftest import Keys
from tests.integration.worker.conftest import World


def test_the_leader_anchors_every_interval(world: World, keys: Keys) -> None:
    topic = f"saga.anchors.{world.suffix}"
    world.settings = world.settings.model_copy(
        update={
            "anchor_interval_s": 1,
            "anchor_topic": topic,
            "anchor_signing_key_file": str(keys.files.private),
        }
    )
    world.start_participants()
    world.start_worker()
    saga_ids = world.start_orders(3)
    world.wait_for(saga_ids)
    deadline = time.monotonic() + 60
    while True:
        latest = latest_anchor(world.bootstrap, topic)
        if latest is not None:
            anchor = decode_anchor(latest[1], keys.private.public_key())
            if {h.stream_id for h in anchor.heads} >= set(saga_ids) and latest[0] >= 1:
                break
        assert time.monotonic() < deadline, f"no anchor of the finished sagas in {topic}"
        time.sleep(0.5)
    with PostgresEventStore(world.app_url) as store:
        for head in anchor.heads:
            assert store.read_stream(head.stream_id)[head.version - 1].hash == head.hash
