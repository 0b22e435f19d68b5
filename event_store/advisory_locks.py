"""Every PostgreSQL advisory-lock key this project takes, in one place.

Advisory locks share one key space per database: two features that pick the same number
block each other (the migration runner and the outbox leader once did, and `migrate` waited
forever while a worker ran). Add a key here, never inline. Single-key (bigint) locks and
two-key (int, int) locks never collide with each other.
"""

from __future__ import annotations

from typing import Final

# Single bigint keys: session locks held by one process at a time.
MIGRATIONS: Final = 0x5A6A_0001  # event_store.migrations: one migration run at a time

# Two-key locks: the first key is the class, the second a hash of the locked name.
OUTBOX_RELAY_LEADER_CLASS: Final = 0x5A6A  # orchestrator.runtime: the leader of a consumer group
SCHEMA_REGISTRY_SUBJECT_CLASS: Final = 0x5352  # orchestrator.codec ("SR"): versions of a subject
