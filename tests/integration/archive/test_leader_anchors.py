"""The worker's leader writes signed anchors on its own, every SAGA_ANCHOR_INTERVAL_S."""

from __future__ import annotations

from event_store.postgres import PostgresEventStore
from orchestrator.archive import Anchor, decode_anchor
from orchestrator.archive._kafka import latest_anchor
from tests.integration.archive.conftest import Keys
from tests.integration.worker.conftest import World
from tests.support import eventually


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

    def newest() -> tuple[int, Anchor] | None:
        latest = latest_anchor(world.bootstrap, topic)
        if latest is None:
            return None
        return latest[0], decode_anchor(latest[1], keys.private.public_key())

    def covers_the_sagas(found: tuple[int, Anchor] | None) -> bool:
        return (
            found is not None
            and {h.stream_id for h in found[1].heads} >= set(saga_ids)
            and found[0] >= 1
        )

    found = eventually(
        newest,
        f"an anchor of the finished sagas in {topic}",
        until=covers_the_sagas,
        timeout=60,
        interval=0.5,
    )
    assert found is not None
    anchor = found[1]
    with PostgresEventStore(world.app_url) as store:
        for head in anchor.heads:
            assert store.read_stream(head.stream_id)[head.version - 1].hash == head.hash
