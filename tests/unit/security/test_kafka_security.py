"""SAGA_KAFKA_* settings: checked in one line per problem, turned into librdkafka properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import ConfigError, Settings
from orchestrator.kafka import admin_config, consumer_config, producer_config
from orchestrator.security import kafka_client_security


@pytest.fixture
def pem(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def _sasl_ssl(pem: str, **extra: str) -> dict[str, str]:
    return {
        "SAGA_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "SAGA_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "SAGA_KAFKA_SASL_USERNAME": "worker",
        "SAGA_KAFKA_SASL_PASSWORD": "s3cret",
        "SAGA_KAFKA_SSL_CA_FILE": pem,
        **extra,
    }


def test_plaintext_adds_nothing_to_any_client() -> None:
    settings = Settings.from_env({})
    assert kafka_client_security(settings) == {}
    assert admin_config(settings) == {"bootstrap.servers": "127.0.0.1:9092"}


def test_sasl_ssl_reaches_producer_consumer_and_admin(pem: str) -> None:
    settings = Settings.from_env(
        _sasl_ssl(pem, SAGA_KAFKA_SSL_CERT_FILE=pem, SAGA_KAFKA_SSL_KEY_FILE=pem)
    )
    expected = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "worker",
        "sasl.password": "s3cret",
        "ssl.ca.location": pem,
        "ssl.certificate.location": pem,
        "ssl.key.location": pem,
        "ssl.endpoint.identification.algorithm": "https",
    }
    for config in (
        producer_config(settings, client_id="p"),
        consumer_config(settings, group_id="g", client_id="c"),
        admin_config(settings),
    ):
        assert {key: config[key] for key in expected} == expected


def test_hostname_verification_is_on_unless_turned_off(pem: str) -> None:
    off = Settings.from_env(_sasl_ssl(pem, SAGA_KAFKA_SSL_VERIFY_HOSTNAME="false"))
    assert kafka_client_security(off)["ssl.endpoint.identification.algorithm"] == "none"


def test_sasl_plaintext_sends_no_tls_settings() -> None:
    settings = Settings.from_env(
        {
            "SAGA_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SAGA_KAFKA_SASL_MECHANISM": "PLAIN",
            "SAGA_KAFKA_SASL_USERNAME": "u",
            "SAGA_KAFKA_SASL_PASSWORD": "p",
        }
    )
    assert kafka_client_security(settings) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "sasl.password": "p",
    }


def test_ssl_without_a_ca_file_uses_the_system_store() -> None:
    config = kafka_client_security(Settings.from_env({"SAGA_KAFKA_SECURITY_PROTOCOL": "SSL"}))
    assert config == {"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "https"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SAGA_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "SAGA_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT'"
            " or 'SASL_SSL'",
        ),
        (
            {"SAGA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SAGA_KAFKA_SASL_USERNAME": "u"},
            "SAGA_KAFKA_SASL_MECHANISM: required when SAGA_KAFKA_SECURITY_PROTOCOL is SASL_SSL; "
            "SAGA_KAFKA_SASL_PASSWORD: required when SAGA_KAFKA_SECURITY_PROTOCOL is SASL_SSL",
        ),
        (
            {"SAGA_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "SAGA_KAFKA_SASL_MECHANISM: Input should be '', 'PLAIN', 'SCRAM-SHA-256' or "
            "'SCRAM-SHA-512'",
        ),
        (
            {"SAGA_KAFKA_SASL_PASSWORD": "p"},
            "SAGA_KAFKA_SASL_*: set, but SAGA_KAFKA_SECURITY_PROTOCOL is PLAINTEXT; use "
            "SASL_SSL or SASL_PLAINTEXT to send them",
        ),
        (
            {"SAGA_KAFKA_SSL_CA_FILE": "/etc/ca.pem"},
            "SAGA_KAFKA_SSL_*: set, but SAGA_KAFKA_SECURITY_PROTOCOL is PLAINTEXT; use SSL or "
            "SASL_SSL",
        ),
        (
            {"SAGA_KAFKA_SECURITY_PROTOCOL": "SSL", "SAGA_KAFKA_SSL_CA_FILE": "/no/such.pem"},
            "SAGA_KAFKA_SSL_CA_FILE: /no/such.pem is not a file",
        ),
        (
            {"SAGA_KAFKA_SECURITY_PROTOCOL": "SSL", "SAGA_KAFKA_SSL_CERT_FILE": "/no/c.pem"},
            "SAGA_KAFKA_SSL_CERT_FILE and SAGA_KAFKA_SSL_KEY_FILE: a client certificate needs "
            "both (or neither); SAGA_KAFKA_SSL_CERT_FILE: /no/c.pem is not a file",
        ),
    ],
    ids=["protocol", "sasl-incomplete", "mechanism", "sasl-on-plaintext", "tls-on-plaintext",
         "missing-file", "cert-without-key"],
)  # fmt: skip
def test_bad_settings_are_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == message


def test_passwords_stay_out_of_the_settings_repr(pem: str) -> None:
    settings = Settings.from_env(
        _sasl_ssl(pem, SAGA_KAFKA_SSL_KEY_PASSWORD="k3y-pw", SAGA_KAFKA_SSL_KEY_FILE=pem,
                  SAGA_KAFKA_SSL_CERT_FILE=pem, SAGA_SCHEMA_REGISTRY_BASIC_AUTH="u:r3g-pw",
                  SAGA_DATABASE_URL="postgresql://saga:db-pw@h/saga")
    )  # fmt: skip
    shown = f"{settings!r} {settings} {settings.kafka_security!r}"
    for secret in ("s3cret", "k3y-pw", "r3g-pw", "db-pw"):
        assert secret not in shown
