"""SAGA_* settings: defaults fit the local stack, bad values are named, derived ones follow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.config import DEFAULT_OWNER_DATABASE_URL, ConfigError, Settings


def test_defaults_fit_the_local_stack() -> None:
    settings = Settings.from_env({})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.participant_database_url == DEFAULT_OWNER_DATABASE_URL


def test_the_participant_database_follows_the_configured_owner_url() -> None:
    owner = "postgresql://saga_owner:secret@postgres:5432/saga"
    assert Settings.from_env({"SAGA_OWNER_DATABASE_URL": owner}).participant_database_url == owner
    own = "postgresql://credit@db/credit"
    chosen = Settings.from_env(
        {"SAGA_OWNER_DATABASE_URL": owner, "SAGA_PARTICIPANT_DATABASE_URL": own}
    )
    assert chosen.participant_database_url == own


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAGA_BATCH_MAX_MESSAGES", "0"),
        ("SAGA_TOPIC_PARTITIONS", "many"),
        ("SAGA_LOG_FORMAT", "xml"),
        ("SAGA_METRICS_PORT", "70000"),
    ],
)
def test_a_bad_value_is_reported_with_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(SAGA_[A-Z0-9_]+)` \|", readme, re.MULTILINE))
    settings = {f"SAGA_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the README's table"
    assert documented - settings <= {"SAGA_SUPERUSER_DATABASE_URL"}, "README documents unknowns"


def test_the_event_format_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).event_format == 3
    assert Settings.from_env({"SAGA_EVENT_FORMAT": "1"}).event_format == 1
    assert Settings.from_env({"SAGA_EVENT_FORMAT": "2"}).event_format == 2
    with pytest.raises(ConfigError, match="SAGA_EVENT_FORMAT"):
        Settings.from_env({"SAGA_EVENT_FORMAT": "4"})


def test_start_versions_are_parsed_per_saga_type() -> None:
    assert Settings.from_env({}).start_versions == {}
    pinned = Settings.from_env({"SAGA_START_VERSIONS": "order_fulfilment=1, trip_booking=2"})
    assert pinned.start_versions == {"order_fulfilment": 1, "trip_booking": 2}


@pytest.mark.parametrize(
    "value",
    ["order_fulfilment", "order_fulfilment=", "=2", "order_fulfilment=v2", "a=0", "a=1,a=2"],
)
def test_a_malformed_start_version_is_one_line_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^SAGA_START_VERSIONS: ") as raised:
        Settings.from_env({"SAGA_START_VERSIONS": value})
    assert "\n" not in str(raised.value)
