from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from orchestrator.observability import Metrics, default_metrics
from orchestrator.observability._metrics import SAGA_STATUSES

# The contract dashboards and alerts are written against: name -> metric type.
EXPECTED = {
    "saga_messages_consumed": "counter",
    "saga_batch_size": "histogram",
    "saga_batch_duration_seconds": "histogram",
    "saga_store_append_duration_seconds": "histogram",
    "saga_events_appended": "counter",
    "saga_commands_published": "counter",
    "saga_dead_letters": "counter",
    "saga_started": "counter",
    "saga_finished": "counter",
    "saga_duration_seconds": "histogram",
    "saga_state_cache": "counter",
    "saga_replay_duration_seconds": "histogram",
    "saga_timers_fired": "counter",
    "saga_transient_errors": "counter",
    "saga_worker_paused": "gauge",
    "saga_worker_missing_version": "counter",
    "saga_worker_held_partitions": "gauge",
    "saga_consumer_lag": "gauge",
    "saga_outbox_backlog_events": "gauge",
    "saga_compensation_failed": "counter",
    "saga_parked": "counter",
    "saga_step_duration_seconds": "histogram",
    "saga_in_flight": "gauge",
    "saga_stuck": "gauge",
}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def test_every_documented_metric_is_registered_with_its_type(registry: CollectorRegistry) -> None:
    Metrics(registry)
    families = {family.name: family.type for family in registry.collect()}
    assert families == EXPECTED


def test_counters_are_exposed_with_total_suffix(metrics: Metrics) -> None:
    metrics.messages_consumed.labels(topic="saga.start", outcome="processed").inc(3)
    metrics.messages_consumed.labels(topic="saga.start", outcome="duplicate").inc()
    metrics.compensation_failed.labels(saga_type="order").inc()
    get = metrics.registry.get_sample_value
    assert get("saga_messages_consumed_total", {"topic": "saga.start", "outcome": "processed"}) == 3
    assert get("saga_messages_consumed_total", {"topic": "saga.start", "outcome": "duplicate"}) == 1
    assert get("saga_compensation_failed_total", {"saga_type": "order"}) == 1


def test_saga_duration_buckets_span_ten_ms_to_ten_minutes(metrics: Metrics) -> None:
    metrics.saga_duration.labels(saga_type="order", status="completed").observe(0.005)
    metrics.saga_duration.labels(saga_type="order", status="completed").observe(599)
    metrics.saga_duration.labels(saga_type="order", status="completed").observe(601)
    get = metrics.registry.get_sample_value
    labels = {"saga_type": "order", "status": "completed"}
    assert get("saga_duration_seconds_bucket", {**labels, "le": "0.01"}) == 1
    assert get("saga_duration_seconds_bucket", {**labels, "le": "600.0"}) == 2
    assert get("saga_duration_seconds_bucket", {**labels, "le": "+Inf"}) == 3


def test_batch_size_histogram_counts_messages(metrics: Metrics) -> None:
    metrics.batch_size.observe(500)
    get = metrics.registry.get_sample_value
    assert get("saga_batch_size_bucket", {"le": "250.0"}) == 0
    assert get("saga_batch_size_bucket", {"le": "500.0"}) == 1
    assert get("saga_batch_size_sum") == 500


def test_no_label_can_carry_a_per_instance_id(metrics: Metrics) -> None:
    metrics.register_saga_types(["order"])
    metrics.register_topics(["saga.start"])
    metrics.consumer_lag.labels(topic="saga.start", partition="0").set(1)
    metrics.dead_letters.labels(topic="saga.start", reason="decode").inc()
    label_names = {
        name for family in metrics.registry.collect() for s in family.samples for name in s.labels
    }
    assert label_names <= {
        "topic",
        "outcome",
        "partition",
        "reason",
        "saga_type",
        "status",
        "result",
        "dependency",
        "le",
    }


def test_known_label_values_start_at_zero(metrics: Metrics) -> None:
    get = metrics.registry.get_sample_value
    assert get("saga_transient_errors_total", {"dependency": "postgres"}) == 0
    assert get("saga_state_cache_total", {"result": "miss"}) == 0
    assert get("saga_worker_paused") == 0
    assert get("saga_compensation_failed_total", {"saga_type": "order"}) is None
    metrics.register_saga_types(["order"])
    metrics.register_topics(["saga.replies"])
    assert get("saga_compensation_failed_total", {"saga_type": "order"}) == 0
    assert get("saga_finished_total", {"saga_type": "order", "status": "compensation_failed"}) == 0
    assert get("saga_messages_consumed_total", {"topic": "saga.replies", "outcome": "ignored"}) == 0


def test_forget_partitions_drops_only_revoked_lag_series(metrics: Metrics) -> None:
    metrics.consumer_lag.labels(topic="t", partition="0").set(5)
    metrics.consumer_lag.labels(topic="t", partition="1").set(7)
    metrics.forget_partitions([("t", 0), ("t", 9)])
    get = metrics.registry.get_sample_value
    assert get("saga_consumer_lag", {"topic": "t", "partition": "0"}) is None
    assert get("saga_consumer_lag", {"topic": "t", "partition": "1"}) == 7


def test_registries_are_independent() -> None:
    a, b = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    a.timers_fired.inc()
    assert a.registry.get_sample_value("saga_timers_fired_total") == 1
    assert b.registry.get_sample_value("saga_timers_fired_total") == 0


def test_a_registry_holds_one_metrics_instance(registry: CollectorRegistry) -> None:
    Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)


def test_default_metrics_is_built_once_on_the_default_registry() -> None:
    first = default_metrics()
    assert default_metrics() is first
    assert first.registry is REGISTRY


def test_saga_statuses_match_the_terminal_statuses_of_the_saga_layer() -> None:
    from orchestrator.saga import TERMINAL

    assert set(SAGA_STATUSES) == {status.value for status in TERMINAL}
