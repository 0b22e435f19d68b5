"""Fail fast, in one line, when a dependency does not answer.

The stores behind sagactl use connection pools, which retry in the background for their whole
timeout and log every failed attempt, and librdkafka retries a missing broker for ever, logging
each attempt on stderr: right for a worker riding out a failover, wrong for an operator at a
prompt or a process that has just been started with a wrong address. A command declares what
it needs with `@requires(...)`; the settings are checked (exit 2) and each dependency is asked
once, with a bounded timeout (exit 3), before the command's body runs.
"""

from __future__ import annotations

import base64
import enum
import functools
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Final, ParamSpec, TypeVar

import psycopg
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from psycopg.conninfo import make_conninfo

from orchestrator.cli._config import load_settings
from orchestrator.cli._output import EXIT_UNREACHABLE, EXIT_USAGE, fail, first_line
from orchestrator.config import ConfigError, Settings
from orchestrator.security import kafka_connection

CONNECT_TIMEOUT_S: Final = 5
KAFKA_TIMEOUT_S: Final = 5.0
KAFKA_PROBE_STEP_S: Final = 0.5
# Errors that retrying cannot cure: wrong credentials, a certificate the other side rejects.
_REFUSALS: Final = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})

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
    # An external schema registry (SAGA_SCHEMA_REGISTRY_URL), when one is configured: its
    # client would otherwise retry a refused password for ever.
    REGISTRY = "SAGA_SCHEMA_REGISTRY_URL"


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
                require_kafka(settings)
            if Needs.REGISTRY in needs and settings.schema_registry_url:
                require_registry(settings.schema_registry_url, settings.schema_registry_basic_auth)
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


def require_kafka(settings: Settings) -> None:
    """Ask the brokers for metadata, as the configured client would. A refused password or an
    untrusted certificate is reported as soon as librdkafka reports it (its error callback),
    not after the timeout: librdkafka itself would retry either for ever."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {
        **kafka_connection(settings),
        "logger": _SILENT,
        "error_cb": errors.append,
    }
    admin = AdminClient(config)
    deadline = time.monotonic() + KAFKA_TIMEOUT_S
    while True:
        try:
            admin.list_topics(timeout=KAFKA_PROBE_STEP_S)
        except KafkaException as exc:
            admin.poll(0)  # serve the error callback
            refusal = next((e for e in errors if _is_refusal(e)), None)
            if refusal is not None:
                raise fail(
                    f"Kafka refused the connection at {settings.kafka_bootstrap}: "
                    f"{_without_broker_prefix(refusal.str())}",
                    EXIT_UNREACHABLE,
                ) from None
            if time.monotonic() >= deadline:
                raise fail(
                    f"Kafka unreachable at {settings.kafka_bootstrap}: {kafka_reason(exc)}",
                    EXIT_UNREACHABLE,
                ) from None
        else:
            return


def _is_refusal(error: KafkaError) -> bool:
    # A broker that rejects the client's certificate (or its lack of one) answers the TLS
    # handshake with an alert, which librdkafka reports as a transport error.
    return error.code() in _REFUSALS or (
        error.code() == KafkaError._TRANSPORT and "SSL alert" in error.str()
    )


def _without_broker_prefix(message: str) -> str:
    # "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: ..." -> the error.
    head, separator, rest = message.partition(": ")
    return rest if separator and "://" in head else message


def require_registry(url: str, basic_auth: str | None) -> None:
    """Ask an external registry for its subjects with the configured credentials."""
    request = urllib.request.Request(f"{url.rstrip('/')}/subjects")  # noqa: S310 - configured
    if basic_auth:
        token = base64.b64encode(basic_auth.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S):  # noqa: S310
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise fail(
                f"schema registry at {url} refused the credentials (HTTP {exc.code}); check "
                "SAGA_SCHEMA_REGISTRY_BASIC_AUTH",
                EXIT_UNREACHABLE,
            ) from None
        if exc.code < 500:
            return  # it answers; what it says about subjects is the commands' business
        reason = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = first_line(exc)
    raise fail(f"schema registry unreachable at {url}: {reason}", EXIT_UNREACHABLE) from None


def kafka_reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return str(error.str()) if isinstance(error, KafkaError) else first_line(exc)
