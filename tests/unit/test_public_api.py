"""The saga author's API is the product's face: its exports change only on purpose."""

from __future__ import annotations

import orchestrator
import orchestrator.participant
import orchestrator.saga
import orchestrator.testing


def test_the_author_has_one_door() -> None:
    # Everything a saga module imports comes from orchestrator.saga; the package root does not
    # offer a second, partial copy of it.
    assert orchestrator.__all__ == []
    authoring = {
        "Message",
        "Parallel",
        "RetryPolicy",
        "Saga",
        "SagaDefinitionError",
        "Step",
        "Topics",
        "compensation",
        "either",
        "parallel",
        "step",
    }
    assert authoring <= set(orchestrator.saga.__all__)
    for name in authoring:
        assert getattr(orchestrator.saga, name) is not None


def test_test_kit_and_participant_sdk_are_public() -> None:
    assert {"SagaTestKit", "VirtualClock"} <= set(orchestrator.testing.__all__)
    assert {
        "Participant",
        "ParticipantTestClient",
        "PostgresInbox",
        "SagaStarter",
        "CommandContext",
    } <= set(orchestrator.participant.__all__)


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
