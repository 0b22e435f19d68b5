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
        "Compensation",
        "Decision",
        "DecisionContext",
        "Divergence",
        "Envelope",
        "Long",
        "Message",
        "MessageDeadLettered",
        "MessageRedriven",
        "Parallel",
        "RegistryError",
        "Replies",
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
        "StepOf",
        "StepState",
        "StepStatus",
        "TimerFired",
        "Topics",
        "check_histories",
        "check_history",
        "command_message_id",
        "compensation",
        "decide",
        "dump_history",
        "either",
        "events",
        "evolve",
        "generated_schemas",
        "iso_instant",
        "load_history",
        "parallel",
        "replay",
        "saga_id_for",
        "stale_schemas",
        "step",
        "step_key_for",
        "timer_id_for",
        "timer_message_id",
        "write_schemas",
    }
    for name in orchestrator.saga.__all__:
        assert hasattr(orchestrator.saga, name), name


def test_testing_package_exports() -> None:
    assert sorted(orchestrator.testing.__all__) == [
        "Answer",
        "IssuedCommand",
        "Outcome",
        "Responder",
        "SagaRun",
        "SagaTestKit",
        "VirtualClock",
    ]


def test_the_decider_imports_no_kafka_or_postgres_client() -> None:
    # Static, so that whatever else this test process imported cannot hide a violation.
    root = Path(orchestrator.saga.__file__).parents[1]
    allowed_internal = ("orchestrator.saga", "orchestrator.testing", "orchestrator.messages")
    files = [*(root / "saga").glob("*.py"), *(root / "testing").glob("*.py")]
    files += (root / "messages").glob("*.py")
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
