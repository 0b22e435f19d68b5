"""SagaRegistry: which saga class (and which version of it) handles which message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from event_store import RecordedEvent
from orchestrator.messages import Message
from orchestrator.saga import events as ev
from orchestrator.saga._definition import SagaDefinition
from orchestrator.saga._evolve import ReplayError, replay
from orchestrator.saga._ids import saga_id_for
from orchestrator.saga._saga import Saga
from orchestrator.saga._state import SagaInstance


class RegistryError(LookupError):
    pass


class MissingVersionError(RegistryError):
    """A saga type this registry knows, at a definition version it does not hold: the saga
    belongs to a worker that runs that version (a rolling deploy is under way), not to this
    one, and is neither broken nor poison."""

    def __init__(self, saga_type: str, version: int) -> None:
        self.saga_type = saga_type
        self.version = version
        super().__init__(f"no saga {saga_type} version {version} is registered")


class SagaRegistry:
    """Saga classes by name and definition version.

    New instances start on the highest registered version of their saga, unless
    `with_start_versions` pins the type to another one; an existing instance keeps the version
    recorded in its SagaStarted, so older versions stay registered for as long as instances
    started on them may still receive messages (or be replayed).
    """

    def __init__(self, sagas: Iterable[type[Saga]] = ()) -> None:
        self._by_version: dict[tuple[str, int], SagaDefinition] = {}
        self._latest: dict[str, SagaDefinition] = {}
        self._by_start: dict[str, str] = {}  # start message Avro name -> saga name
        # saga name -> the definition new instances start on (the latest unless pinned)
        self._starting: dict[str, SagaDefinition] = {}
        self._pinned: dict[str, int] = {}
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
            if d.name not in self._pinned:
                self._starting[d.name] = d
        return d

    def with_start_versions(self, versions: Mapping[str, int]) -> SagaRegistry:
        """A registry of the same definitions whose new instances of each named saga type start
        on the named version (SAGA_START_VERSIONS): during a rolling deploy, new workers that
        know v1 and v2 keep starting v1 until no worker that knows only v1 is left.

        Raises RegistryError naming the saga type or version this registry does not hold."""
        pinned = SagaRegistry()
        pinned._by_version = dict(self._by_version)
        pinned._latest = dict(self._latest)
        pinned._by_start = dict(self._by_start)
        pinned._starting = dict(self._starting)
        pinned._pinned = dict(self._pinned)
        for saga_type, version in versions.items():
            if saga_type not in self._latest:
                known = ", ".join(sorted(self._latest)) or "none"
                raise RegistryError(f"no saga {saga_type!r} is registered (registered: {known})")
            definition = self._by_version.get((saga_type, version))
            if definition is None:
                known = ", ".join(
                    str(v) for name, v in sorted(self._by_version) if name == saga_type
                )
                raise RegistryError(
                    f"saga {saga_type} has no version {version} registered (registered: {known})"
                )
            pinned._starting[saga_type] = definition
            pinned._pinned[saga_type] = version
        return pinned

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
        if found is None and version is not None and saga_type in self._latest:
            raise MissingVersionError(saga_type, version)
        if found is None:
            wanted = saga_type if version is None else f"{saga_type} version {version}"
            raise RegistryError(f"no saga {wanted} is registered")
        return found

    def for_start(self, message: Message | type[Message] | str) -> SagaDefinition | None:
        """The definition new instances started by this message type start on (the latest, or
        the pinned version), or None if it starts nothing."""
        name = message if isinstance(message, str) else message.avro_name
        saga = self._by_start.get(name)
        return self._starting[saga] if saga else None

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
