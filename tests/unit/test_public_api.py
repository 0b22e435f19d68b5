"""The saga author's API is the product's face: its exports change only on purpose."""

from __future__ import annotations

import orchestrator
import orchestrator.participant
import orchestrator.testing


def test_top_level_exports_are_the_authoring_api() -> None:
    assert sorted(orchestrator.__all__) == [
        "Message",
        "Parallel",
        "RetryPolicy",
        "Saga",
        "SagaDefinitionError",
        "SagaRegistry",
        "SagaStatus",
        "Step",
        "parallel",
        "step",
    ]
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name) is not None


def test_test_kit_and_participant_sdk_are_public() -> None:
    assert {"SagaTestKit", "VirtualClock"} <= set(orchestrator.testing.__all__)
    assert {"Participant", "PostgresInbox", "SagaStarter", "CommandContext"} <= set(
        orchestrator.participant.__all__
    )


def test_the_decider_imports_no_kafka_or_postgres_driver() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, orchestrator, orchestrator.saga, orchestrator.testing, sagas.order_fulfilment;"
        "bad = [m for m in ('confluent_kafka', 'psycopg') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the saga layer pulled in {out.stdout.strip()}"
