"""Fixtures of the archive tests: the worker tests' World, scratch databases, signing keys, and
an anchors topic of the test's own."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.archive import KeyPairFiles, generate_key_pair, load_private_key
from tests.integration.event_store.conftest import fresh_db  # noqa: F401 - fixture
from tests.integration.worker.conftest import make_world, world  # noqa: F401 - fixtures


@dataclass(frozen=True)
class Keys:
    files: KeyPairFiles

    @property
    def private(self) -> Ed25519PrivateKey:
        return load_private_key(self.files.private)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(generate_key_pair(tmp_path / "keys"))


@pytest.fixture
def other_keys(tmp_path: Path) -> Keys:
    return Keys(generate_key_pair(tmp_path / "other-keys"))


@pytest.fixture
def anchor_topic(kafka_bootstrap: str) -> Iterator[str]:
    topic = f"saga.anchors.test-{uuid.uuid4().hex[:10]}"
    yield topic
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        with contextlib.suppress(Exception):  # best effort: a leftover topic harms nobody
            future.result(30)
