"""compose.yaml cannot be started here (no Docker engine), so it is validated instead: against
the Compose specification's JSON schema, and against the commands and settings the project has."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import Settings
from orchestrator.observability import TRACING_VARIABLES
from orchestrator.security import SECRET_VARIABLES

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def load(shell: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as Compose reads it with the shell variables `shell` (none by default):
    `${NAME:-default}` is the variable when set and not empty, else the default."""

    def interpolate(match: re.Match[str]) -> str:
        return (shell or {}).get(match[1]) or match[2]

    text = re.sub(r"\$\{([A-Z0-9_]+):-([^}]*)\}", interpolate, COMPOSE.read_text())
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def test_compose_file_matches_the_compose_specification() -> None:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert exe is not None, "check-jsonschema is a dev dependency; run `make venv`"
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_whole_stack() -> None:
    services = load()["services"]
    assert isinstance(services, dict)
    assert {"kafka", "postgres", "migrate", "worker", "demo", "jaeger"} <= services.keys()
    participants = {name for name in services if name.startswith("participant-")}
    assert participants == {"participant-credit", "participant-inventory", "participant-shipping"}
    assert "healthcheck" in services["postgres"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")


def test_compose_sets_only_variables_the_orchestrator_reads() -> None:
    known = {f"SAGA_{name.upper()}" for name in Settings.model_fields} | TRACING_VARIABLES
    known |= {f"{variable}_FILE" for variable in SECRET_VARIABLES}
    services = load()["services"]
    assert isinstance(services, dict)
    for name in ("worker", "participant-credit", "demo"):
        assert set(services[name]["environment"]) <= known, name


def test_compose_runs_jaeger_and_every_service_exports_to_it() -> None:
    services = load()["services"]
    assert isinstance(services, dict)
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/jaeger:2.")
    assert "127.0.0.1:16686:16686" in jaeger["ports"]
    for name, service in services.items():
        if str(service.get("image", "")).startswith("saga-orchestrator"):
            endpoint = service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
            assert endpoint == "http://jaeger:4318", name


# The settings each sagactl command the compose file runs actually uses.
USED_BY = {
    "db migrate": {"owner_database_url", "database_url"},
    "worker": {"database_url", "kafka_bootstrap"},
    "participant": {"database_url", "participant_database_url", "kafka_bootstrap"},
    "demo": {"owner_database_url", "database_url", "kafka_bootstrap"},
}


def test_every_orchestrator_service_points_at_the_compose_servers() -> None:
    services = load()["services"]
    assert isinstance(services, dict)
    seen = []
    for name, service in services.items():
        if not str(service.get("image", "")).startswith("saga-orchestrator"):
            continue
        role = "participant" if service["command"][0] == "participant" else service["command"][0]
        role = "db migrate" if service["command"][:2] == ["db", "migrate"] else role
        assert role in USED_BY, f"{name}: what does {service['command']} use?"
        settings = Settings.from_env(service["environment"])
        for setting in USED_BY[role]:
            value = getattr(settings, setting)
            # Inside compose, 127.0.0.1 is the container itself: a default that falls back to
            # it points nowhere.
            assert "127.0.0.1" not in value, (name, setting, value)
            assert ("@postgres:5432/" in value) or value == "kafka:9092", (name, setting, value)
        seen.append(role)
    assert sorted(seen) == sorted(["db migrate", "worker", "demo", *["participant"] * 3])


def test_participants_keep_their_own_database_and_never_see_owner_credentials() -> None:
    services = load()["services"]
    assert isinstance(services, dict)
    worker = Settings.from_env(services["worker"]["environment"])
    for name in ("participant-credit", "participant-inventory", "participant-shipping"):
        environment = services[name]["environment"]
        assert "SAGA_OWNER_DATABASE_URL" not in environment, name
        settings = Settings.from_env(environment)
        assert settings.participant_database_url.rsplit("/", 1)[1] == "saga_participants"
        assert settings.database_url == worker.database_url  # the built-in schema registry
    roles = load()["configs"]["roles"]["content"]
    assert "CREATE DATABASE saga_participants OWNER saga_participant" in roles


def test_security_settings_pass_through_and_secrets_only_as_files() -> None:
    shell = {
        "SAGA_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SAGA_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SAGA_KAFKA_SASL_USERNAME": "saga-worker",
        "SAGA_KAFKA_SASL_PASSWORD_FILE": "/run/secrets/kafka_sasl_password",
        "SAGA_KAFKA_SSL_CA_FILE": "/run/secrets/kafka_ssl_ca",
        "KAFKA_SASL_PASSWORD_SECRET": "./secrets/kafka-password",
    }
    document = load(shell)
    services = document["services"]
    assert isinstance(services, dict)
    for name, service in services.items():
        if not str(service.get("image", "")).startswith("saga-orchestrator"):
            continue
        environment = service["environment"]
        for variable, value in shell.items():
            if variable.startswith("SAGA_"):
                assert environment[variable] == value, (name, variable)
        # Passwords and keys reach the containers as mounted secrets, never as values.
        assert not set(environment) & {"SAGA_KAFKA_SASL_PASSWORD", "SAGA_KAFKA_SSL_KEY_PASSWORD"}
        assert "kafka_sasl_password" in service["secrets"], name
    secrets = document["secrets"]
    assert isinstance(secrets, dict)
    assert secrets["kafka_sasl_password"] == {"file": "./secrets/kafka-password"}
    # Without the variables, nothing is secured and the (empty) secrets are unused.
    plain = Settings.from_env(load()["services"]["worker"]["environment"])
    assert plain.kafka_security_protocol == "PLAINTEXT"
