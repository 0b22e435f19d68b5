"""compose.yaml cannot be started here (no Docker engine), so it is validated instead: against
the Compose specification's JSON schema, and against the commands and settings the project has."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from orchestrator.config import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def load() -> dict[str, object]:
    document = yaml.safe_load(COMPOSE.read_text())
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
    assert {"kafka", "postgres", "migrate", "worker", "demo"} <= services.keys()
    participants = {name for name in services if name.startswith("participant-")}
    assert participants == {"participant-credit", "participant-inventory", "participant-shipping"}
    assert "healthcheck" in services["postgres"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")


def test_compose_sets_only_variables_the_orchestrator_reads() -> None:
    known = {f"SAGA_{name.upper()}" for name in Settings.model_fields}
    worker_env = load()["services"]["worker"]["environment"]  # type: ignore[index]
    assert set(worker_env) <= known
