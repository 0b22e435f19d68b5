"""The append-only event store: the only source of truth of saga-orchestrator.

Importing this package loads no database driver: the saga decider and test kit use the types,
`InMemoryEventStore` and `verify` from here. The PostgreSQL store lives in
`event_store.postgres`, migrations of the store's own tables in `event_store.migrations`.
The store knows nothing of sagas: their read models live in `orchestrator.projections`.
"""

from event_store._canonical import GENESIS_HASH, canonical_json
from event_store._model import (
    NO_STREAM,
    STREAM_ID_PATTERN,
    AppendResult,
    BatchAppendResult,
    ConcurrencyError,
    EventStore,
    EventStoreError,
    InvalidEventError,
    NewEvent,
    PayloadTooLargeError,
    RecordedEvent,
    StreamAppend,
    UnknownPositionError,
)
from event_store.memory import InMemoryEventStore
from event_store.subscription import CatchUpSubscription, CheckpointStore, InMemoryCheckpointStore
from event_store.verify import ChainBreak, VerifyReport, verify_events, verify_stream

__all__ = [
    "GENESIS_HASH",
    "NO_STREAM",
    "STREAM_ID_PATTERN",
    "AppendResult",
    "BatchAppendResult",
    "CatchUpSubscription",
    "ChainBreak",
    "CheckpointStore",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "InMemoryCheckpointStore",
    "InMemoryEventStore",
    "InvalidEventError",
    "NewEvent",
    "PayloadTooLargeError",
    "RecordedEvent",
    "StreamAppend",
    "UnknownPositionError",
    "VerifyReport",
    "canonical_json",
    "verify_events",
    "verify_stream",
]
