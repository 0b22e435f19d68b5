"""Bounded cache of saga states, partitioned like the consumer's assignment.

A miss costs one replay from the event store, never a wrong answer: entries are dropped when a
partition is revoked (another worker may change those sagas next) and when an append conflicts.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

StateT = TypeVar("StateT")


class StateCache(Generic[StateT]):
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._partitions: dict[tuple[str, int], OrderedDict[str, StateT]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def get(self, partition: tuple[str, int], stream_id: str) -> StateT | None:
        entries = self._partitions.get(partition)
        if entries is None:
            return None
        entry = entries.get(stream_id)
        if entry is not None:
            entries.move_to_end(stream_id)
        return entry

    def put(self, partition: tuple[str, int], stream_id: str, entry: StateT) -> None:
        if self._max_entries == 0:
            return
        entries = self._partitions.setdefault(partition, OrderedDict())
        if stream_id not in entries:
            self._size += 1
        entries[stream_id] = entry
        entries.move_to_end(stream_id)
        while self._size > self._max_entries:
            self._evict_one()

    def discard(self, partition: tuple[str, int], stream_id: str) -> None:
        entries = self._partitions.get(partition)
        if entries is not None and entries.pop(stream_id, None) is not None:
            self._size -= 1

    def drop_partition(self, partition: tuple[str, int]) -> None:
        entries = self._partitions.pop(partition, None)
        if entries is not None:
            self._size -= len(entries)

    def _evict_one(self) -> None:
        # Evict from the fullest partition: keeps small partitions warm under skewed load.
        fullest = max(self._partitions.values(), key=len)
        fullest.popitem(last=False)
        self._size -= 1
