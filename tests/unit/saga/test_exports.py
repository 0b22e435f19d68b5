"""Pins the public API of orchestrator.saga and orchestrator.testing: changing it is a decision."""

from __future__ import annotations

import ast
from pathlib import Path

import orchestrator.saga
import orchestrator.testing


def test_saga_package_exports() -> None:
    assert set(orchestrator.saga.__all__) == {
        "CONTROL_MESSAGES",
        "MissingVersionError",
        "NO_RETRY",
        "TERMINAL",
        "CancelSaga",
        "CommandRefused",
        "Decision",
        "DecisionContext",
        "Divergence",
        "Envelope",
        "MessageDeadLettered",
        "MessageRedriven",
        "Parallel",
        "RegistryError",
        "ReplayError",
        "ReplayReport",
        "ResolveSaga",
        "RetryPolicy",
        "RetryStep",
        "Saga",
        "SagaDefinition",
        "SagaDefinitionError",
        "SagaInstance",
        "SagaRegistry",
        "SagaStatus",
        "Step",
        "StepDef",
        "StepState",
        "StepStatus",
        "TimerFired",
        "check_histories",
        "check_history",
        "command_message_id",
        "decide",
        "dump_history",
        "events",
        "evolve",
        "iso_instant",
        "load_history",
        "parallel",
        "replay",
        "saga_id_for",
        "step",
        "step_key_for",
        "timer_id_for",
        "timer_message_id",
    }
    for name in orchestrator.saga.__all__:
        assert hasattr(orchestrator.saga, name), name


def test_testing_package_exports() -> None:
    assert sorted(orchestrator.testing.__all__) == [
        "IssuedCommand",
        "Outcome",
        "SagaRun",
        "SagaTestKit",
        "VirtualClock",
    ]


def test_the_decider_imports_no_kafka_or_postgres_client() -> None:
    # Static, so that whatever else this test process imported cannot hide a violation.
    root = Path(orchestrator.saga.__file__).parents[1]
    allowed_internal = ("orchestrator.saga", "orchestrator.testing", "orchestrator.messages")
    files = [*(root / "saga").glob("*.py"), *(root / "testing").glob("*.py"), root / "messages.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("confluent_kafka", "psycopg", "psycopg_pool"), (path, name)
                if top == "orchestrator":
                    assert name.startswith(allowed_internal), (path, name)
                if top == "event_store":
                    # The package's door, which loads no driver (its docstring promises it).
                    assert name == "event_store", (path, name)
