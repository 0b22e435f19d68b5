"""Secrets from SAGA_X or SAGA_X_FILE, never both."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import ConfigError, Settings
from orchestrator.security import SECRET_VARIABLES


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    env = {"SAGA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SAGA_KAFKA_SASL_MECHANISM": "PLAIN",
           "SAGA_KAFKA_SASL_USERNAME": "u", "SAGA_KAFKA_SSL_KEY_FILE": __file__,
           "SAGA_KAFKA_SSL_CERT_FILE": __file__}  # fmt: skip
    values = {
        "SAGA_DATABASE_URL": "postgresql://saga:from-file@db/saga",
        "SAGA_OWNER_DATABASE_URL": "postgresql://owner:from-file@db/saga",
        "SAGA_PARTICIPANT_DATABASE_URL": "postgresql://p:from-file@db/p",
        "SAGA_SCHEMA_REGISTRY_BASIC_AUTH": "user:from-file",
        "SAGA_KAFKA_SASL_PASSWORD": "sasl-from-file",
        "SAGA_KAFKA_SSL_KEY_PASSWORD": "key-from-file",
    }
    assert set(values) == set(SECRET_VARIABLES)
    for variable, value in values.items():
        path = tmp_path / variable
        path.write_text(value + "\n")  # as `echo` writes it: the line break is not the secret
        env[f"{variable}_FILE"] = str(path)
    settings = Settings.from_env(env)
    assert settings.database_url == values["SAGA_DATABASE_URL"]
    assert settings.owner_database_url == values["SAGA_OWNER_DATABASE_URL"]
    assert settings.participant_database_url == values["SAGA_PARTICIPANT_DATABASE_URL"]
    assert settings.schema_registry_basic_auth == values["SAGA_SCHEMA_REGISTRY_BASIC_AUTH"]
    assert settings.kafka_sasl_password == values["SAGA_KAFKA_SASL_PASSWORD"]
    assert settings.kafka_ssl_key_password == values["SAGA_KAFKA_SSL_KEY_PASSWORD"]


def test_a_secret_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("one")
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(
            {"SAGA_KAFKA_SASL_PASSWORD": "two", "SAGA_KAFKA_SASL_PASSWORD_FILE": str(path)}
        )
    assert str(raised.value) == (
        "SAGA_KAFKA_SASL_PASSWORD: set either SAGA_KAFKA_SASL_PASSWORD or "
        "SAGA_KAFKA_SASL_PASSWORD_FILE, not both"
    )


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "cannot read {path}: No such file or directory"), ("\n", "{path} is empty")],
)
def test_an_unreadable_or_empty_secret_file_is_one_line(
    tmp_path: Path, content: str | None, complaint: str
) -> None:
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SAGA_DATABASE_URL_FILE": str(path)})
    assert str(raised.value) == "SAGA_DATABASE_URL_FILE: " + complaint.format(path=path)


def test_a_bad_value_is_named_but_not_shown() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SAGA_KAFKA_SSL_VERIFY_HOSTNAME": "hunter2"})
    assert "SAGA_KAFKA_SSL_VERIFY_HOSTNAME" in str(raised.value)
    assert "hunter2" not in str(raised.value)
