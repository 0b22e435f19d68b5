"""No traceback and no false success for any `sagactl` input.

The command tree is walked from click's objects (`walk.leaves`), so a command added later is
covered without touching this file. Every malformed value is tried in-process (fast), with every
dependency pointed at a port nothing listens on: a value the command wrongly accepts then ends
in exit 3 ("unreachable") instead of the usage error, and never touches the shared servers.
Each command is then run once with nothing reachable, in-process with the file descriptors
captured (librdkafka writes below Python); a sample, and the two cases of issue 10, run as real
processes, to see the real stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import pytest
from click.testing import CliRunner

from orchestrator.cli import sagactl
from orchestrator.cli._output import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from orchestrator.cli._types import SAGA_LIST_STATUSES
from tests.conftest import PgUrls
from tests.integration.cli.walk import (
    DEAD_BROKER,
    REPO,
    UNREACHABLE_ENV,
    CallTimedOutError,
    deadline,
    every_command,
    leaves,
    malformed_values,
    one_line_problem,
)
from tests.support import ScratchDb, scratch_database

# A parse error takes milliseconds; a call still running after this has accepted its value
# and is waiting on a server (the unreachable ones).
IN_PROCESS_TIMEOUT_S = 3.0
# A dependency is asked with a bounded timeout (5 s for the broker).
DEPENDENCY_TIMEOUT_S = 15.0
# Start-up of a few processes side by side on a loaded 2-core machine, plus that timeout.
SUBPROCESS_TIMEOUT_S = 45.0


@pytest.fixture(scope="module")
def database(pg_urls: PgUrls) -> Iterator[ScratchDb]:
    """A reachable, migrated database of this module's own."""
    with scratch_database(pg_urls) as db:
        yield db


def invoke(
    argv: Sequence[str], env: dict[str, str], timeout_s: float = IN_PROCESS_TIMEOUT_S
) -> tuple[int, str, str]:
    with deadline(timeout_s, f"sagactl {' '.join(argv)}"):
        result = CliRunner().invoke(sagactl, list(argv), env=env)
    if isinstance(result.exception, CallTimedOutError):
        return -1, result.stdout, f"{result.stderr}\n{result.exception}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # CliRunner catches what would have been a traceback; show it as one.
        return 1, result.stdout, f"{result.stderr}\nTraceback: {result.exception!r}"
    return result.exit_code, result.stdout, result.stderr


@dataclass
class Run:
    argv: list[str]
    process: subprocess.Popen[bytes]
    stdout: IO[bytes]
    stderr: IO[bytes]
    started: float


def run_all(commands: Sequence[tuple[Sequence[str], dict[str, str]]]) -> list[str]:
    """Run the commands, each with its environment, as real `sagactl` processes side by side
    (their bounded waits overlap) and describe each one that did not end in one line and
    exit 3."""
    runs = []
    for argv, env in commands:
        # Files, not pipes: a process that logs a lot must not block on a full pipe while
        # the others are waited for.
        stdout = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _read once it exited
        stderr = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", *argv],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=stdout,
            stderr=stderr,
        )
        runs.append(Run(list(argv), process, stdout, stderr, time.monotonic()))
    problems = []
    for run in runs:
        name = " ".join(run.argv)
        try:
            run.process.wait(max(SUBPROCESS_TIMEOUT_S - (time.monotonic() - run.started), 0.1))
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()
            for file in (run.stdout, run.stderr):
                file.close()
            problems.append(f"{name}: still running after {SUBPROCESS_TIMEOUT_S} s")
            continue
        out, err = (_read(f) for f in (run.stdout, run.stderr))
        problem = one_line_problem(run.process.returncode, out, err, {EXIT_UNREACHABLE})
        if problem is not None:
            problems.append(f"{name}: {problem}")
    return problems


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    text = file.read().decode("utf-8", "replace")
    file.close()
    return text


def test_the_walk_reaches_every_command() -> None:
    """The walk is not vacuous: it finds the commands README lists, and knows malformed
    values for every parameter they take."""
    names = {leaf.name for leaf in leaves()}
    for leaf in leaves():
        for param in leaf.params():
            assert malformed_values(param), (leaf.name, param.name)
    assert {
        "db migrate",
        "db verify",
        "db rebuild",
        "saga list",
        "saga history",
        "saga cancel",
        "saga retry",
        "saga resolve",
        "dlq list",
        "dlq show",
        "dlq redrive",
        "schemas check",
        "schemas register",
        "schemas list",
        "worker",
        "projector",
        "participant",
        "demo",
    } <= names, names


def test_every_malformed_value_of_every_parameter_is_a_one_line_usage_error() -> None:
    problems = []
    calls = 0
    started = time.monotonic()
    for leaf in leaves():
        for param in leaf.params():
            for value in malformed_values(param):
                argv = leaf.argv(param, value)
                calls += 1
                code, stdout, stderr = invoke(argv, UNREACHABLE_ENV)
                problem = one_line_problem(code, stdout, stderr, {EXIT_USAGE})
                if problem is not None:
                    problems.append(f"sagactl {' '.join(argv)!r}: {problem}")
                    break  # one problem per parameter says enough, and keeps a failing run short
    assert not problems, f"{len(problems)} parameters:\n" + "\n".join(problems)
    assert calls > 100, calls
    assert time.monotonic() - started < 30, "a malformed value must not wait on a server"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAGA_DATABASE_URL", "not a connection string"),
        ("SAGA_OWNER_DATABASE_URL", "host=127.0.0.1 port"),
        ("SAGA_KAFKA_BOOTSTRAP", "127.0.0.1:99999"),
        ("SAGA_BATCH_MAX_MESSAGES", "-1"),
        ("SAGA_SAGAS", "no.such.module:Saga"),
    ],
)
def test_every_command_refuses_bad_configuration_in_one_line(variable: str, value: str) -> None:
    problems = []
    for leaf in leaves():
        code, stdout, stderr = invoke(leaf.argv(), {**UNREACHABLE_ENV, variable: value})
        problem = one_line_problem(code, stdout, stderr, {EXIT_USAGE})
        if problem is None and variable not in stderr:
            problem = f"the error does not name {variable}: {stderr!r}"
        if problem is not None:
            problems.append(f"{leaf.name}: {problem}")
    assert not problems, "\n".join(problems)


def test_help_of_every_command_exits_0() -> None:
    for words in every_command():
        code, stdout, stderr = invoke([*words, "--help"], UNREACHABLE_ENV)
        assert (code, stderr) == (EXIT_OK, ""), (words, code, stderr)
        assert stdout.startswith("Usage: "), (words, stdout)


def test_every_command_says_in_one_line_and_exit_3_that_nothing_answers(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Valid arguments, every dependency unreachable: each command, the long-running ones
    included, ends promptly in one line. In-process, with the file descriptors captured as
    well, so that what librdkafka writes to the process's stderr below Python counts too."""
    problems = []
    for leaf in leaves():
        capfd.readouterr()
        code, stdout, stderr = invoke(leaf.argv(), UNREACHABLE_ENV, DEPENDENCY_TIMEOUT_S)
        below = capfd.readouterr()
        problem = one_line_problem(code, stdout + below.out, stderr + below.err, {EXIT_UNREACHABLE})
        if problem is not None:
            problems.append(f"{leaf.name}: {problem}")
    assert not problems, "\n".join(problems)


def test_a_sample_as_real_processes_says_in_one_line_and_exit_3_that_nothing_answers(
    database: ScratchDb,
) -> None:
    """The same as real processes, side by side so that their bounded waits overlap: a
    command that asks only the broker, one that asks only the database, and the long-running
    ones with the broker alone unreachable beside a reachable database (not the demo: waiting
    out a broker's first start is its own bounded wait)."""
    broker_only = {
        "SAGA_DATABASE_URL": database.app,
        "SAGA_OWNER_DATABASE_URL": database.owner,
        "SAGA_PARTICIPANT_DATABASE_URL": database.owner,
        "SAGA_KAFKA_BOOTSTRAP": DEAD_BROKER,
        "SAGA_SCHEMA_REGISTRY_URL": "",
    }
    started = time.monotonic()
    problems = run_all(
        [
            (["dlq", "list", "orders"], UNREACHABLE_ENV),
            (["db", "verify"], UNREACHABLE_ENV),
            (["worker"], broker_only),
            (["participant", "credit"], broker_only),
        ]
    )
    assert not problems, "\n".join(problems)
    assert time.monotonic() - started < SUBPROCESS_TIMEOUT_S


def run_real(argv: Sequence[str], database: ScratchDb) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *argv],
        cwd=REPO,
        env={**os.environ, "SAGA_DATABASE_URL": database.app},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


def test_db_verify_of_a_malformed_stream_id_is_exit_2_in_one_line(database: ScratchDb) -> None:
    done = run_real(["db", "verify", "--stream", "bad!id"], database)
    assert one_line_problem(done.returncode, done.stdout, done.stderr, {EXIT_USAGE}) is None, (
        done.returncode,
        done.stderr,
    )
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert "--stream" in error
    assert "'bad!id' is not a stream id" in error


def test_saga_list_of_an_unknown_status_is_exit_2_naming_the_allowed_ones(
    database: ScratchDb,
) -> None:
    done = run_real(["saga", "list", "--status", "bogus"], database)
    assert one_line_problem(done.returncode, done.stdout, done.stderr, {EXIT_USAGE}) is None, (
        done.returncode,
        done.stdout,
        done.stderr,
    )
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert "'bogus'" in error
    for status in SAGA_LIST_STATUSES:
        assert f"'{status}'" in error, (status, error)
    # and a known status still lists (nothing here: an empty table, exit 0)
    known = run_real(["saga", "list", "--status", "parked"], database)
    assert known.returncode == EXIT_OK, known.stderr
    assert known.stdout.split() == [
        "saga_id",
        "type",
        "status",
        "step",
        "business_key",
        "updated_at",
    ]
