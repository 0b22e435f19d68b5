"""The leader's anchoring duty: off unless configured, a bad key stops start-up, and a failed
anchor is logged and retried, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.archive import PeriodicAnchor, generate_key_pair
from orchestrator.config import ConfigError, Settings

DEAD = "postgresql://saga:x@127.0.0.1:1/saga?connect_timeout=1"


def test_anchoring_is_off_without_a_key_or_an_interval(tmp_path: Path) -> None:
    key = generate_key_pair(tmp_path).private
    assert PeriodicAnchor.from_settings(Settings()) is None
    assert (
        PeriodicAnchor.from_settings(
            Settings(anchor_signing_key_file=str(key), anchor_interval_s=0)
        )
        is None
    )
    assert PeriodicAnchor.from_settings(Settings(anchor_signing_key_file=str(key))) is not None


def test_an_unreadable_key_is_a_configuration_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SAGA_ANCHOR_SIGNING_KEY_FILE: signing key"):
        PeriodicAnchor.from_settings(Settings(anchor_signing_key_file=str(tmp_path / "none")))


def test_a_failed_anchor_is_retried_later_not_raised(tmp_path: Path) -> None:
    now = [100.0]
    settings = Settings(
        database_url=DEAD,
        anchor_signing_key_file=str(generate_key_pair(tmp_path).private),
        anchor_interval_s=600,
    )
    anchors = PeriodicAnchor(settings, clock=lambda: now[0])
    assert anchors.poll() is False  # the database does not answer: logged, not raised
    assert anchors._due == 130.0  # retried after 30 s, well before the 600 s interval
