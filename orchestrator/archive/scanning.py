"""The store scan under `db verify`, for the other readers of a whole store (`sagactl audit`):
chained rows fetched in slices of one exported snapshot, each link checked as it streams by.

A module of its own, not in the package's door: it names the driver-level row machinery that
only a full scan needs."""

from orchestrator.archive._chains import (
    ChainState,
    Row,
    check_link,
    encode_value,
    event_bytes,
    fast_encode,
    fast_json,
    fast_parse,
    parse,
)
from orchestrator.archive._scan import PARALLEL_FROM, count_events, scan_rows, truncated_tails
from orchestrator.archive._slices import Slice, in_slice, map_slices, store_snapshot

__all__ = [
    "PARALLEL_FROM",
    "ChainState",
    "Row",
    "Slice",
    "check_link",
    "count_events",
    "encode_value",
    "event_bytes",
    "fast_encode",
    "fast_json",
    "fast_parse",
    "in_slice",
    "map_slices",
    "parse",
    "scan_rows",
    "store_snapshot",
    "truncated_tails",
]
