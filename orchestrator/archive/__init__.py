"""Signed exports of the event store and signed anchors of its chain heads.

An export (`sagactl export`) is JSON Lines: a header, every selected event with its chain hash,
and an Ed25519 signature over everything before it; it verifies offline (`sagactl verify`) and
loads into an empty store (`sagactl import`). An anchor (`sagactl db anchor`, and the worker's
leader every SAGA_ANCHOR_INTERVAL_S) is a signed list of every stream's head, written to a
Kafka topic the database's writers cannot rewrite; `sagactl db verify` judges the store by the
newest one and tells a rewritten tail, a removed stream and a removed event apart.

The pure parts (format, signing, anchor model, comparison) import nothing but event_store's
public API and `cryptography`; `_postgres` and `_kafka` are the adapters.
"""

from orchestrator.archive._anchor import (
    Anchor,
    AnchorError,
    Finding,
    FindingKind,
    StoredHead,
    compare_heads,
    decode_anchor,
    encode_anchor,
)
from orchestrator.archive._check import ExportError, ExportSummary, read_events, verify_export
from orchestrator.archive._format import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, ExportHeader
from orchestrator.archive._heads import StreamHead
from orchestrator.archive._kafka import ANCHOR_TOPIC_CONFIG, AnchorTopicError
from orchestrator.archive._keys import (
    KEY_ENV,
    KEY_FILE_ENV,
    KeyPairFiles,
    SigningKeyError,
    fingerprint,
    generate_key_pair,
    load_private_key,
    load_public_key,
    private_key_from_env,
)
from orchestrator.archive._periodic import PeriodicAnchor
from orchestrator.archive._postgres import NotEmptyError
from orchestrator.archive._scan import verify_store
from orchestrator.archive._service import (
    AnchorCheck,
    AnchorTarget,
    ExportSelection,
    ImportCheckError,
    ImportResult,
    check_anchor,
    export_store,
    import_export,
    read_anchor,
    verify_export_file,
    write_anchor,
)
from orchestrator.archive._writer import ExportWriter

__all__ = [
    "ANCHOR_TOPIC_CONFIG",
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Anchor",
    "AnchorCheck",
    "AnchorError",
    "AnchorTarget",
    "AnchorTopicError",
    "ExportError",
    "ExportHeader",
    "ExportSelection",
    "ExportSummary",
    "ExportWriter",
    "Finding",
    "FindingKind",
    "ImportCheckError",
    "ImportResult",
    "KeyPairFiles",
    "NotEmptyError",
    "PeriodicAnchor",
    "SigningKeyError",
    "StoredHead",
    "StreamHead",
    "check_anchor",
    "compare_heads",
    "decode_anchor",
    "encode_anchor",
    "export_store",
    "fingerprint",
    "generate_key_pair",
    "import_export",
    "load_private_key",
    "load_public_key",
    "private_key_from_env",
    "read_anchor",
    "read_events",
    "verify_export",
    "verify_export_file",
    "verify_store",
    "write_anchor",
]
