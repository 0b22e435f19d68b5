"""Bounded LRU cache of saga states, keyed by saga id.

A saga's messages arrive on two topics (its start topic and its reply topic), so its entry
remembers the partition it was last seen on; revoking that partition drops it (another worker
may change the saga next). A stale entry can still happen (the reply partition moved here from
a worker that advanced the saga) and costs one conflict and a replay, never a wrong answer: every
append carries the version the state was folded to (optimistic concurrency).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

StateT = TypeVar("StateT")
Partition = tuple[str, int]


class StateCache(Generic[StateT]):
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Partition, StateT]] = OrderedDict()
        self._by_partition: dict[Partition, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, saga_id: str) -> StateT | None:
        entry = self._entries.get(saga_id)
        if entry is None:
            return None
        self._entries.move_to_end(saga_id)
        return entry[1]

    def put(self, partition: Partition, saga_id: str, state: StateT) -> None:
        if self._max_entries == 0:
            return
        previous = self._entries.get(saga_id)
        if previous is not None and previous[0] != partition:
            self._by_partition[previous[0]].discard(saga_id)
        self._entries[saga_id] = (partition, state)
        self._entries.move_to_end(saga_id)
        self._by_partition.setdefault(partition, set()).add(saga_id)
        while len(self._entries) > self._max_entries:
            evicted, (where, _) = self._entries.popitem(last=False)
            self._by_partition[where].discard(evicted)

    def discard(self, saga_id: str) -> None:
        entry = self._entries.pop(saga_id, None)
        if entry is not None:
            self._by_partition[entry[0]].discard(saga_id)

    def drop_partition(self, partition: Partition) -> None:
        for saga_id in self._by_partition.pop(partition, set()):
            self._entries.pop(saga_id, None)
