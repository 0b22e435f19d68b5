"""Argument checks for reads, shared by every store so both refuse the same calls alike."""

from __future__ import annotations

from datetime import datetime

# The largest stream version PostgreSQL's integer column can hold; "to the end" for reads.
MAX_VERSION = 2**31 - 1


def check_stream_range(from_version: int, to_version: int | None) -> None:
    if from_version < 1:
        raise ValueError(f"from_version must be >= 1, got {from_version}")
    if to_version is not None and to_version < 0:
        raise ValueError(f"to_version must be >= 0, got {to_version}")


def check_timestamp(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("recorded_before must be timezone-aware")


def check_read_all_args(after_position: int, limit: int) -> None:
    if after_position < 0:
        raise ValueError(f"after_position must be >= 0, got {after_position}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
