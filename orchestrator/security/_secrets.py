"""Secrets from the environment or from files (`SAGA_X_FILE`, as container platforms mount
them), never both: two sources for one secret would leave the operator guessing which won."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# The variables whose values are secrets (connection strings carry passwords).
SECRET_VARIABLES: Final = (
    "SAGA_DATABASE_URL",
    "SAGA_OWNER_DATABASE_URL",
    "SAGA_PARTICIPANT_DATABASE_URL",
    "SAGA_SCHEMA_REGISTRY_BASIC_AUTH",
    "SAGA_KAFKA_SASL_PASSWORD",
    "SAGA_KAFKA_SSL_KEY_PASSWORD",
)


class SecretSourceError(ValueError):
    """A secret is given twice, or its file cannot be read; the message names the variable."""


def read_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """The secret variables that are set, by name, each read from its `_FILE` when that is
    the one set. A file's trailing line break is not part of the secret (`echo pw > file`)."""
    found: dict[str, str] = {}
    for variable in SECRET_VARIABLES:
        direct, path = environ.get(variable), environ.get(f"{variable}_FILE")
        if direct and path:
            raise SecretSourceError(
                f"{variable}: set either {variable} or {variable}_FILE, not both"
            )
        if path:
            found[variable] = _read_secret_file(f"{variable}_FILE", path)
        elif direct:
            found[variable] = direct
    return found


def _read_secret_file(variable: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise SecretSourceError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretSourceError(f"{variable}: {path} is not UTF-8 text") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise SecretSourceError(f"{variable}: {path} is empty")
    return secret
