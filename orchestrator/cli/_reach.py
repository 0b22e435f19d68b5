"""Fail fast, in one line, when a dependency does not answer.

The stores behind sagactl use connection pools, which retry in the background for their whole
timeout and log every failed attempt, and librdkafka retries a missing broker for ever, logging
each attempt on stderr: right for a worker riding out a failover, wrong for an operator at a
prompt or a process that has just been started with a wrong address. A command declares what
it needs with `@requires(...)`; the settings are checked (exit 2) and each dependency is asked
once, with a bounded timeout (exit 3), before the command's body runs.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

import psycopg
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from psycopg.conninfo import make_conninfo

from orchestrator.cli._config import load_settings
from orchestrator.cli._output import EXIT_UNREACHABLE, EXIT_USAGE, fail, first_line
from orchestrator.config import ConfigError, Settings

CONNECT_TIMEOUT_S: Final = 5
KAFKA_TIMEOUT_S: Final = 5.0

P = ParamSpec("P")
R = TypeVar("R")

# librdkafka writes every failed connection attempt to stderr unless it is given a logger; the
# probe's one-line verdict says all of it.
_SILENT = logging.getLogger("sagactl.kafka-probe")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


class Needs(enum.Enum):
    DATABASE = "SAGA_DATABASE_URL"
    OWNER_DATABASE = "SAGA_OWNER_DATABASE_URL"
    PARTICIPANT_DATABASE = "SAGA_PARTICIPANT_DATABASE_URL"
    KAFKA = "SAGA_KAFKA_BOOTSTRAP"


def requires(*needs: Needs) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check the settings, then ask each of `needs`, before the command runs (decorate the
    command's function, below click's decorators)."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                settings = load_settings()
            except ConfigError as exc:
                raise fail(f"configuration error: {exc}", EXIT_USAGE) from None
            for conninfo in dict.fromkeys(_conninfo(settings, need) for need in needs):
                if conninfo is not None:
                    require_postgres(conninfo)
            if Needs.KAFKA in needs:
                require_kafka(settings.kafka_bootstrap)
            return command(*args, **kwargs)

        return checked

    return decorate


def _conninfo(settings: Settings, need: Needs) -> str | None:
    return {
        Needs.DATABASE: settings.database_url,
        Needs.OWNER_DATABASE: settings.owner_database_url,
        Needs.PARTICIPANT_DATABASE: settings.participant_database_url,
    }.get(need)


def require_postgres(conninfo: str) -> None:
    try:
        with psycopg.connect(make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT_S)):
            pass
    except psycopg.OperationalError as exc:
        raise fail(f"PostgreSQL unreachable: {first_line(exc)}", EXIT_UNREACHABLE) from None


def require_kafka(bootstrap: str) -> None:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _SILENT}
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=KAFKA_TIMEOUT_S)
    except KafkaException as exc:
        raise fail(
            f"Kafka unreachable at {bootstrap}: {kafka_reason(exc)}", EXIT_UNREACHABLE
        ) from None


def kafka_reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return str(error.str()) if isinstance(error, KafkaError) else first_line(exc)
