"""SagaRegistry: which saga class (and which version of it) handles which message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from event_store._model import RecordedEvent
from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._definition import Saga, SagaDefinition
from orchestrator.saga._evolve import ReplayError, replay
from orchestrator.saga._ids import saga_id_for
from orchestrator.saga._state import SagaInstance


class RegistryError(LookupError):
    pass


class SagaRegistry:
    """Saga classes by name and definition version.

    New instances start on the highest registered version of their saga; an existing instance
    keeps the version recorded in its SagaStarted, so older versions stay registered for as
    long as instances started on them may still receive messages (or be replayed).
    """

    def __init__(self, sagas: Iterable[type[Saga]] = ()) -> None:
        self._by_version: dict[tuple[str, int], SagaDefinition] = {}
        self._latest: dict[str, SagaDefinition] = {}
        self._by_start: dict[str, str] = {}  # start message Avro name -> saga name
        for saga in sagas:
            self.register(saga)

    def register(self, saga: type[Saga]) -> SagaDefinition:
        d = saga.definition
        if (d.name, d.version) in self._by_version:
            raise RegistryError(f"saga {d.name} version {d.version} is already registered")
        owner = self._by_start.get(d.start_type.avro_name)
        if owner is not None and owner != d.name:
            raise RegistryError(
                f"{d.start_type.avro_name} already starts saga {owner}; "
                f"it cannot also start {d.name}"
            )
        self._by_version[(d.name, d.version)] = d
        self._by_start[d.start_type.avro_name] = d.name
        if d.name not in self._latest or self._latest[d.name].version < d.version:
            self._latest[d.name] = d
        return d

    @property
    def definitions(self) -> Sequence[SagaDefinition]:
        return tuple(self._by_version.values())

    def get(self, saga_type: str, version: int | None = None) -> SagaDefinition:
        """The definition of ``saga_type`` at ``version`` (the latest when None)."""
        found = (
            self._latest.get(saga_type)
            if version is None
            else self._by_version.get((saga_type, version))
        )
        if found is None:
            wanted = saga_type if version is None else f"{saga_type} version {version}"
            raise RegistryError(f"no saga {wanted} is registered")
        return found

    def for_start(self, message: Message | type[Message] | str) -> SagaDefinition | None:
        """The latest definition started by this message type, or None if it starts nothing."""
        name = message if isinstance(message, str) else message.avro_name
        saga = self._by_start.get(name)
        return self._latest[saga] if saga else None

    def saga_id_for_start(self, message: Message) -> str | None:
        """Deterministic saga id for a start command (uuid5 of saga type and business key)."""
        definition = self.for_start(message)
        if definition is None:
            return None
        return saga_id_for(definition.name, definition.business_key(message))

    def for_instance(self, instance: SagaInstance) -> SagaDefinition:
        return self.get(instance.saga_type, instance.definition_version)

    def for_history(self, events: Sequence[ev.SagaEvent]) -> SagaDefinition:
        if not events or not isinstance(events[0], ev.SagaStarted):
            raise ReplayError("a saga history must start with SagaStarted")
        first = events[0]
        return self.get(first.saga_type, first.definition_version)

    def replay(self, events: Sequence[ev.SagaEvent | RecordedEvent]) -> SagaInstance | None:
        """Fold a stream with the definition version it started on (None for no events)."""
        typed = [e if isinstance(e, ev.SagaEvent) else ev.event_from_recorded(e) for e in events]
        if not typed:
            return None
        return replay(self.for_history(typed), typed)

    @property
    def start_topics(self) -> frozenset[str]:
        return frozenset(d.start_topic for d in self._latest.values())

    @property
    def reply_topics(self) -> frozenset[str]:
        return frozenset(d.reply_topic for d in self._by_version.values())

    @property
    def command_topics(self) -> frozenset[str]:
        topics: set[str] = set()
        for d in self._by_version.values():
            topics |= d.command_topics
        return frozenset(topics)
