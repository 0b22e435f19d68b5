"""What is left for sagactl's top level: a failure that can only happen mid-operation (a server
that goes away after the start-up check) keeps its exit code, and anything else, a bug, is one
line and exit 4 from `main()`, not a traceback."""

from __future__ import annotations

import click
import psycopg
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

from orchestrator.cli import main, sagactl
from orchestrator.cli._output import EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_USAGE
from orchestrator.config import ConfigError


def failing_with(exc: BaseException) -> click.Command:
    @click.command("explode")
    def explode() -> None:
        raise exc

    return explode


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (
            ConfigError("SAGA_SAGAS: nothing"),
            EXIT_USAGE,
            "sagactl: configuration error: SAGA_SAGAS: nothing",
        ),
        (
            psycopg.OperationalError("server closed the connection\nHINT: more"),
            EXIT_UNREACHABLE,
            "sagactl: PostgreSQL failed: server closed the connection",
        ),
        (
            KafkaException(KafkaError(KafkaError._TRANSPORT, "broker went away")),
            EXIT_UNREACHABLE,
            "sagactl: Kafka failed: broker went away",
        ),
    ],
    ids=["config", "postgres", "kafka"],
)
def test_a_dependency_failing_mid_operation_keeps_its_exit_code(
    exc: BaseException, code: int, line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sagactl.commands, "explode", failing_with(exc))
    result = CliRunner().invoke(sagactl, ["explode"])
    assert (result.exit_code, result.stderr, result.stdout) == (code, f"{line}\n", "")


def test_a_bug_is_one_line_and_exit_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sagactl.commands, "explode", failing_with(RuntimeError("boom\nmore")))
    monkeypatch.setattr("sys.argv", ["sagactl", "explode"])
    monkeypatch.delenv("SAGACTL_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == EXIT_INTERNAL
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "sagactl: internal error: RuntimeError: boom (SAGACTL_TRACEBACK=1 shows where)\n"
    )

    monkeypatch.setenv("SAGACTL_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main()
