"""Security settings in one place: Kafka TLS and SASL for every client the project creates,
PostgreSQL TLS for every connection string, and secrets read from files or the environment.

`orchestrator.config.Settings` holds the values; this package checks them (one line naming the
variable) and turns them into what librdkafka and libpq take.
"""

from orchestrator.security._kafka import (
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
    check_kafka_security,
    kafka_client_security,
    kafka_connection,
)
from orchestrator.security._postgres import (
    PostgresTls,
    SslMode,
    check_postgres_tls,
    with_postgres_tls,
)
from orchestrator.security._secrets import SECRET_VARIABLES, SecretSourceError, read_secrets

__all__ = [
    "SECRET_VARIABLES",
    "KafkaSecurity",
    "PostgresTls",
    "SaslMechanism",
    "SecretSourceError",
    "SecurityProtocol",
    "SslMode",
    "check_kafka_security",
    "check_postgres_tls",
    "kafka_client_security",
    "kafka_connection",
    "read_secrets",
    "with_postgres_tls",
]
