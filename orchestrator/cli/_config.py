"""Settings for sagactl, checked before anything connects.

`Settings.from_env` checks types and ranges; it cannot tell that a string is not a connection
string, and psycopg would only say so later, from deep inside a pool, as a traceback. The
command line checks the addresses here so that a typo is one line naming the variable (exit 2),
and an address that parses but does not answer is exit 3 (see `_reach`).
"""

from __future__ import annotations

import re
from typing import Final

import psycopg
from psycopg.conninfo import conninfo_to_dict

from orchestrator.cli._output import first_line
from orchestrator.config import ConfigError, Settings
from orchestrator.runtime import load_sagas

# host:port, name:port, [v6]:port, each optionally with a listener scheme (PLAINTEXT://...);
# librdkafka defaults a missing port to 9092.
_BROKER: Final = re.compile(r"(?:[A-Za-z_]+://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d+))?")


def load_settings() -> Settings:
    settings = Settings.from_env()
    for variable, conninfo in (
        ("SAGA_DATABASE_URL", settings.database_url),
        ("SAGA_OWNER_DATABASE_URL", settings.owner_database_url),
        ("SAGA_PARTICIPANT_DATABASE_URL", settings.participant_database_url),
    ):
        _check_conninfo(variable, conninfo)
    _check_bootstrap(settings.kafka_bootstrap)
    load_sagas(settings.sagas)  # a class that does not load is a typo, whichever the command
    return settings


def _check_conninfo(variable: str, conninfo: str) -> None:
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"{variable}: not a PostgreSQL connection string ({first_line(exc)})"
        ) from None


def _check_bootstrap(bootstrap: str) -> None:
    for broker in bootstrap.split(","):
        match = _BROKER.fullmatch(broker.strip())
        if match is None or (match.group(1) is not None and not 0 < int(match.group(1)) < 65536):
            raise ConfigError(
                f"SAGA_KAFKA_BOOTSTRAP: {broker.strip()!r} is not host:port "
                "(a comma-separated list of brokers)"
            )
