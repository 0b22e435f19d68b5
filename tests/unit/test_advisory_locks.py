"""Advisory-lock keys share one space per database: a duplicate makes two features block
each other (the migration runner once waited forever behind a running worker's lease)."""

from __future__ import annotations

from event_store import advisory_locks
from event_store.migrations import _runner
from orchestrator.codec import _pg_registry
from orchestrator.runtime import _postgres as _relay


def test_two_key_lock_classes_are_distinct() -> None:
    classes = [
        advisory_locks.OUTBOX_RELAY_LEADER_CLASS,
        advisory_locks.SCHEMA_REGISTRY_SUBJECT_CLASS,
    ]
    assert len(set(classes)) == len(classes)


def test_every_lock_user_takes_its_key_from_the_registry() -> None:
    assert _runner.MIGRATION_LOCK_KEY == advisory_locks.MIGRATIONS
    assert _relay.RELAY_LEADER_CLASS == advisory_locks.OUTBOX_RELAY_LEADER_CLASS
    assert _pg_registry._LOCK_CLASS == advisory_locks.SCHEMA_REGISTRY_SUBJECT_CLASS
