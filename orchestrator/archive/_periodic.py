"""The leader's anchoring duty: an anchor now and then every interval, failures logged, never
fatal (an anchor that could not be written is retried sooner; sagas must not wait for it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import psycopg
import structlog
from confluent_kafka import KafkaException

from orchestrator.archive._kafka import AnchorTopicError
from orchestrator.archive._keys import SigningKeyError, fingerprint, load_private_key
from orchestrator.archive._service import AnchorTarget, write_anchor
from orchestrator.config import ConfigError, Settings
from orchestrator.security import kafka_client_security

__all__ = ["PeriodicAnchor"]

log = structlog.get_logger(__name__)

RETRY_AFTER_FAILURE_S: Final = 30.0


class PeriodicAnchor:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._key = load_private_key(Path(settings.anchor_signing_key_file))
        except SigningKeyError as exc:
            raise ConfigError(f"SAGA_ANCHOR_SIGNING_KEY_FILE: {exc}") from None
        self._conninfo = settings.database_url
        self._target = AnchorTarget(
            settings.kafka_bootstrap,
            settings.anchor_topic,
            settings.topic_replication_factor,
            kafka_client_security(settings),
        )
        self._interval = float(settings.anchor_interval_s)
        self._clock = clock
        self._due = 0.0  # a new leader anchors at once: the previous one may have died long ago

    @classmethod
    def from_settings(cls, settings: Settings) -> PeriodicAnchor | None:
        """None when anchoring is off (no interval, or no key configured)."""
        if settings.anchor_interval_s == 0 or not settings.anchor_signing_key_file:
            return None
        return cls(settings)

    def poll(self) -> bool:
        """Write an anchor if one is due; whether one was written."""
        now = self._clock()
        if now < self._due:
            return False
        try:
            anchor, offset = write_anchor(self._conninfo, self._target, self._key)
        except (psycopg.Error, KafkaException, AnchorTopicError) as exc:
            log.warning("anchor not written; retrying", error=str(exc))
            self._due = now + min(RETRY_AFTER_FAILURE_S, self._interval)
            return False
        self._due = now + self._interval
        log.info(
            "anchor written",
            topic=self._target.topic,
            offset=offset,
            streams=len(anchor.heads),
            global_position=anchor.global_position,
            signer=fingerprint(self._key.public_key()),
        )
        return True
