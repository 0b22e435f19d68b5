from __future__ import annotations

import pytest

from orchestrator.observability import HealthState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_liveness_fails_once_the_beat_is_older_than_the_threshold() -> None:
    clock = FakeClock()
    health = HealthState(liveness_threshold_seconds=30, clock=clock)
    clock.now += 30
    assert health.liveness().alive
    clock.now += 0.5
    live = health.liveness()
    assert not live.alive
    assert live.seconds_since_beat == pytest.approx(30.5)
    health.beat()
    assert health.liveness().alive


def test_readiness_names_every_missing_dependency() -> None:
    health = HealthState()
    assert health.readiness().missing == ("kafka", "postgres", "partitions")
    health.set_kafka(True)
    health.set_assigned_partitions(2)
    ready = health.readiness()
    assert not ready.ready
    assert ready.missing == ("postgres",)
    health.set_postgres(True)
    assert health.readiness().ready
    health.set_assigned_partitions(0)  # all partitions revoked
    assert health.readiness().missing == ("partitions",)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        HealthState(liveness_threshold_seconds=0)
    with pytest.raises(ValueError, match="negative"):
        HealthState().set_assigned_partitions(-1)
