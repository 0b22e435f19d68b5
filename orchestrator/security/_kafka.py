"""Kafka TLS and SASL for every client: librdkafka properties from the SAGA_KAFKA_* settings.

With the default PLAINTEXT nothing is added, so a client's configuration is what it was before
security was configurable. Hostname verification is on unless turned off explicitly: a broker
certificate that is trusted but names another host is exactly what it protects against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from orchestrator.security._files import check_readable_file

if TYPE_CHECKING:
    from orchestrator.config import Settings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_SASL: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_TLS: Final = frozenset({"SSL", "SASL_SSL"})


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ca_file: str = ""  # empty: the system's trusted CAs
    cert_file: str = ""
    key_file: str = ""
    key_password: str = ""
    verify_hostname: bool = True

    def __repr__(self) -> str:  # the passwords stay out of every repr and traceback
        return (
            f"KafkaSecurity(protocol={self.protocol!r}, sasl_mechanism={self.sasl_mechanism!r}, "
            f"sasl_username={self.sasl_username!r}, ca_file={self.ca_file!r}, "
            f"cert_file={self.cert_file!r}, key_file={self.key_file!r})"
        )

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in _SASL

    @property
    def uses_tls(self) -> bool:
        return self.protocol in _TLS


def check_kafka_security(security: KafkaSecurity) -> list[str]:
    """The problems of a configuration, one line each, naming the variable to fix."""
    protocol = f"SAGA_KAFKA_SECURITY_PROTOCOL is {security.protocol}"
    problems: list[str] = []
    if security.uses_sasl:
        if not security.sasl_mechanism:
            problems.append(f"SAGA_KAFKA_SASL_MECHANISM: required when {protocol}")
        if not security.sasl_username:
            problems.append(f"SAGA_KAFKA_SASL_USERNAME: required when {protocol}")
        if not security.sasl_password:
            problems.append(f"SAGA_KAFKA_SASL_PASSWORD: required when {protocol}")
    elif security.sasl_mechanism or security.sasl_username or security.sasl_password:
        problems.append(
            f"SAGA_KAFKA_SASL_*: set, but {protocol}; use SASL_SSL or SASL_PLAINTEXT to send them"
        )
    files = {
        "SAGA_KAFKA_SSL_CA_FILE": security.ca_file,
        "SAGA_KAFKA_SSL_CERT_FILE": security.cert_file,
        "SAGA_KAFKA_SSL_KEY_FILE": security.key_file,
    }
    if not security.uses_tls:
        if any(files.values()) or security.key_password:
            problems.append(f"SAGA_KAFKA_SSL_*: set, but {protocol}; use SSL or SASL_SSL")
        return problems
    if bool(security.cert_file) != bool(security.key_file):
        problems.append(
            "SAGA_KAFKA_SSL_CERT_FILE and SAGA_KAFKA_SSL_KEY_FILE: a client certificate needs "
            "both (or neither)"
        )
    if security.key_password and not security.key_file:
        problems.append("SAGA_KAFKA_SSL_KEY_PASSWORD: set, but no SAGA_KAFKA_SSL_KEY_FILE")
    problems.extend(
        problem
        for variable, path in files.items()
        if path and (problem := check_readable_file(variable, path)) is not None
    )
    return problems


def kafka_client_security(settings: Settings) -> dict[str, Any]:
    """The librdkafka properties that secure a client: merge into every client's config."""
    security = settings.kafka_security
    if security.protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": security.protocol}
    if security.uses_sasl:
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = security.sasl_username
        config["sasl.password"] = security.sasl_password
    if security.uses_tls:
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if security.verify_hostname else "none"
        )
        optional = {
            "ssl.ca.location": security.ca_file,
            "ssl.certificate.location": security.cert_file,
            "ssl.key.location": security.key_file,
            "ssl.key.password": security.key_password,
        }
        config.update({name: value for name, value in optional.items() if value})
    return config


def kafka_connection(settings: Settings) -> dict[str, Any]:
    """Where the brokers are and how to reach them: the base of a client's configuration."""
    return {"bootstrap.servers": settings.kafka_bootstrap, **kafka_client_security(settings)}
