"""The `sagactl` command tree, read from click's objects, and the values each parameter's type
must refuse.

Everything is derived from the command objects, so a command or option added later is walked
too; a parameter whose type this module does not know fails the walk (`malformed_values`), so a
new free-form parameter cannot slip through untested.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from orchestrator.cli import sagactl
from orchestrator.cli._types import (
    Binding,
    Credentials,
    Cursor,
    Duration,
    HostAddress,
    Instant,
    RoleName,
    StreamId,
    Text,
    TopicName,
)

REPO = Path(__file__).resolve().parents[3]

# Nothing listens on port 1: connections are refused at once, so "unreachable" costs no wait
# for PostgreSQL (librdkafka still waits out its bounded metadata timeout).
DEAD_DATABASE = "postgresql://saga:x@127.0.0.1:1/saga"
DEAD_BROKER = "127.0.0.1:1"
UNREACHABLE_ENV = {
    "SAGA_DATABASE_URL": DEAD_DATABASE,
    "SAGA_OWNER_DATABASE_URL": DEAD_DATABASE,
    "SAGA_PARTICIPANT_DATABASE_URL": DEAD_DATABASE,
    "SAGA_KAFKA_BOOTSTRAP": DEAD_BROKER,
    "SAGA_SCHEMA_REGISTRY_URL": "",  # the built-in registry, in the dead database
}


@dataclass(frozen=True)
class Leaf:
    """A runnable command and the groups above it, root first."""

    path: tuple[click.Command, ...]

    @property
    def name(self) -> str:
        return " ".join(str(command.name) for command in self.path[1:])

    def params(self) -> Iterator[click.Parameter]:
        for command in self.path:
            yield from (p for p in command.params if not _takes_no_value(p))

    def argv(self, target: click.Parameter | None = None, value: str = "") -> list[str]:
        """The command line with a valid value for each required parameter, except `target`,
        which gets `value` (options as --name=value, arguments after `--`, so that a value
        such as "-1" reaches the parameter's type instead of reading as an option)."""
        argv: list[str] = []
        for command in self.path:
            if command is not self.path[0]:
                argv.append(str(command.name))
            positional: list[str] = []
            for param in command.params:
                if _takes_no_value(param):
                    continue
                if param is target:
                    chosen: str | None = value
                elif param.required:
                    chosen = valid_value(param)
                else:
                    chosen = None
                if chosen is None:
                    continue
                if isinstance(param, click.Argument):
                    positional.append(chosen)
                else:
                    argv.append(f"{param.opts[0]}={chosen}")
            if positional:
                argv += ["--", *positional]
        return argv


def leaves(command: click.Command = sagactl, above: tuple[click.Command, ...] = ()) -> list[Leaf]:
    path = (*above, command)
    if isinstance(command, click.Group):
        return [
            leaf
            for name in sorted(command.commands)
            for leaf in leaves(command.commands[name], path)
        ]
    return [Leaf(path)]


def every_command(command: click.Command = sagactl, above: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command, groups included, as the words that name it (the root is [])."""
    found = [list(above)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += every_command(command.commands[name], (*above, name))
    return found


def _takes_no_value(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and (param.is_flag or param.name == "help")


def malformed_values(param: click.Parameter) -> list[str]:
    """Values the parameter must refuse, derived from its type."""
    kind = param.type
    if isinstance(kind, StreamId):
        return ["bad!id", "", "-leading-dash", "x" * 201, "has space"]
    if isinstance(kind, TopicName):
        return ["", "bad topic", "bad!topic", "..", "t" * 250]
    if isinstance(kind, Text):
        return ["", "   ", "two\nlines"]
    if isinstance(kind, HostAddress):
        return ["", "bad host", "bad_host", "-leading.dash", "x" * 254]
    if isinstance(kind, Credentials):
        return ["", "no-colon", ":password", "user:", "user:two\nlines"]
    if isinstance(kind, RoleName):
        return ["", "r" * 64]
    if isinstance(kind, Binding):
        return ["no-equals-sign", "=Record", "bad topic=Record", "topic="]
    if isinstance(kind, click.Choice):
        return ["bogus", ""]
    if isinstance(kind, Duration):
        # no unit; a unit it does not know; zero; negative; fractional; too long; a space
        return ["10", "10w", "0s", "-5m", "1.5h", "99999999d", "10 m", ""]
    if isinstance(kind, Cursor):
        # not an id; an instant without its offset; no instant before the comma
        return ["bad!id", "2026-01-01T00:00:00,s-1", ",s-1", "yesterday,s-1", ""]
    if isinstance(kind, click.DateTime | Instant):
        # not a date; a date that cannot be; a time without its offset (ambiguous)
        return ["yesterday", "2026-13-45T99:00", "2026-01-01T00:00:00", ""]
    if isinstance(kind, click.IntRange):
        return ["x", "", "1.5", *_out_of_range(kind, 1)]
    if isinstance(kind, click.FloatRange):
        return ["x", "", "nan", "inf", "-inf", *_out_of_range(kind, 0.5)]
    if isinstance(kind, click.types.IntParamType):
        return ["x", "", "1.5"]
    if isinstance(kind, click.types.FloatParamType):
        return ["x", "", "nan"]
    if isinstance(kind, click.Path):
        values = ["/nonexistent/sagactl-walk"] if kind.exists else []
        if not kind.file_okay:
            values.append(str(REPO / "pyproject.toml"))  # a file where a directory is wanted
        if not kind.dir_okay:
            values.append(str(REPO))  # a directory where a file is wanted
        if values:
            return values
    raise AssertionError(
        f"{param.name}: no malformed values known for {kind!r}; give the parameter a type "
        "that says what is valid (orchestrator/cli/_types.py) and list its bad values here"
    )


def _out_of_range(kind: click.IntRange | click.FloatRange, step: float) -> list[str]:
    values = []
    if kind.min is not None:
        values.append(str(kind.min if kind.min_open else kind.min - step))
    if kind.max is not None:
        values.append(str(kind.max if kind.max_open else kind.max + step))
    return values


def valid_value(param: click.Parameter) -> str:
    """A value a required parameter accepts, so that one malformed value is the only fault."""
    kind = param.type
    if isinstance(kind, StreamId):
        return "s-1"
    if isinstance(kind, TopicName):
        return "orders"
    if isinstance(kind, Text | RoleName):
        return "saga"
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.IntRange):
        return str(kind.min or 0)
    if isinstance(kind, Duration):
        return "10m"
    raise AssertionError(f"{param.name}: no valid value known for required {kind!r}; add one")


class CallTimedOutError(BaseException):
    """A BaseException, so that no `except Exception` in the command under test swallows it."""


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Interrupt an in-process call that runs longer than `seconds`. Re-arms the alarm of
    pytest-timeout (which uses the same signal) for what is left of it."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise CallTimedOutError(f"{what} still running after {seconds} s")

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def one_line_problem(code: int, stdout: str, stderr: str, expected: set[int]) -> str | None:
    """What is wrong with a failed call's output, or None.

    The rule: the exit code is one of `expected`; nothing on stdout; no traceback anywhere; and
    stderr, once click's standard frame of a usage error is set aside (its "Usage: ..." and
    "Try '... --help' for help." lines and the blank line after them), is exactly one
    non-empty line, click's "Error: ..." or sagactl's "sagactl: ..."."""
    if "Traceback" in stdout + stderr:
        return f"traceback: {stderr[-600:]!r}"
    if code not in expected:
        return f"exit {code}, expected {sorted(expected)}; stderr: {stderr[-400:]!r}"
    if stdout:
        return f"stdout is not empty: {stdout[:200]!r}"
    lines = [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith(("Usage: ", "Try '"))
    ]
    if len(lines) != 1 or not lines[0].startswith(("Error: ", "sagactl: ")):
        return f"stderr is not one error line: {stderr[-600:]!r}"
    return None
