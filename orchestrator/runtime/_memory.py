"""In-memory twins of the runtime's ports, for tests and the in-memory world: each passes the
same contract suite as its PostgreSQL adapter (tests/<port>_contract.py)."""

from __future__ import annotations

from collections.abc import Sequence

from event_store import EventStore, RecordedEvent

READ_PAGE = 1000


class ReadAllCommandLog:
    """The command log over any event store, by filtering `read_all` (the PostgreSQL store
    reads only the wanted types, by index; this reads everything, which memory can afford)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    def read_type(
        self, after_position: int, event_types: Sequence[str], limit: int = 1000
    ) -> tuple[list[RecordedEvent], int]:
        wanted = frozenset(event_types)
        found: list[RecordedEvent] = []
        head = after_position
        while len(found) < limit:
            page = self._store.read_all(head, READ_PAGE)
            if not page:
                return found, head
            for event in page:
                head = event.position
                if event.event_type in wanted:
                    found.append(event)
                    if len(found) == limit:
                        return found, head
        return found, head
