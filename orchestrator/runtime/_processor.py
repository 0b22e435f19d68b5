"""One worker batch, without Kafka: decide every inbound message and append all resulting events
in ONE event-store transaction.

Kafka-free on purpose: the worker feeds it decoded messages and acts on its result (dead
letters, offsets), and tests drive it with the in-memory store.

Per batch:
1. group the messages by saga id, keeping their order;
2. take each saga's state from the cache, or replay its stream (a start command for a saga
   the cache does not know is assumed new: if it is not, the append conflicts and round 2
   replays it, which is cheaper than a read per start);
3. fold every message through the pure decider;
4. `append_batch` once: one transaction, optimistic concurrency per stream, and in that same
   transaction the read models (`saga_instances`, `timers`) of the sagas it appended, read off
   the typed states the decider folded (orchestrator.projections);
5. conflicting sagas (another worker, a stale cache) are replayed and decided again, bounded.

A saga whose stream started on a definition version this worker does not register (a rolling
deploy is under way) is not decided at all: it is reported as `held` at its first message on
each partition, and the worker puts those partitions back at that message and leaves them to a
worker that has the version. Offsets are never stored past it. (When the missing version shows
only in a conflict round, sagas behind it on the same partition may already have been appended
in the first round: their messages come back and are recognised as duplicates.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from event_store import BatchAppendResult, EventStore, NewEvent, StreamAppend
from orchestrator.kafka import ConsumedRecord
from orchestrator.observability import ConsumeOutcome
from orchestrator.projections import Fold, ReadModelWriter
from orchestrator.runtime._cache import StateCache
from orchestrator.runtime._decision_facts import Decided, ended_steps, first_step
from orchestrator.saga import (
    DecisionContext,
    Envelope,
    MissingVersionError,
    SagaInstance,
    SagaRegistry,
    decide,
)
from orchestrator.saga.events import CURRENT_EVENT_FORMAT, ReplyIgnored

log = structlog.get_logger(__name__)

# A conflict means another writer moved the stream; after this many replays in one batch
# something is thrashing, and the batch is retried whole by the worker instead.
MAX_CONFLICT_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded message with the routing facts read from its record."""

    record: ConsumedRecord
    envelope: Envelope
    is_start: bool
    # False for the message the worker makes up to park the saga of a dead-lettered record:
    # that record is counted once, as dead-lettered.
    counted: bool = True

    @property
    def partition(self) -> tuple[str, int]:
        return (self.record.topic, self.record.partition)


@dataclass(frozen=True, slots=True)
class Transition:
    """A saga whose lifecycle status changed in this batch (for metrics and logs)."""

    saga_id: str
    saga_type: str
    before: str | None
    after: str
    terminal: bool
    started_at: str  # ISO-8601 UTC, from the saga's start decision


@dataclass(frozen=True, slots=True)
class Held:
    """The first message of a partition that belongs to a saga on a definition version this
    worker does not register: neither it nor anything after it on its partition was decided."""

    offset: int
    saga_type: str
    version: int


@dataclass(slots=True)
class BatchOutcome:
    appended_streams: int = 0
    appended_events: int = 0
    duplicates: int = 0  # messages the saga had already handled (redelivery)
    cache_hits: int = 0
    cache_misses: int = 0
    conflict_rounds: int = 0
    replay_seconds: float = 0.0
    append_seconds: float = 0.0
    # Non-start messages for sagas that do not exist: the worker dead-letters them.
    unknown_saga: list[Inbound] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    # Decided messages by (topic, outcome): `processed`, `duplicate` or `ignored`.
    consumed: dict[tuple[str, ConsumeOutcome], int] = field(default_factory=dict)
    # Partitions held for a missing saga version, at their first undecided message.
    held: dict[tuple[str, int], Held] = field(default_factory=dict)
    # Every decided message by its record's coordinates (for its span and log line).
    decided: dict[str, Decided] = field(default_factory=dict)
    # Steps a reply ended: (saga type, step, seconds since the step's command was issued).
    step_durations: list[tuple[str, str, float]] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        """Fold the outcome of another part of the same batch into this one."""
        self.appended_streams += other.appended_streams
        self.appended_events += other.appended_events
        self.duplicates += other.duplicates
        self.cache_hits += other.cache_hits
        self.cache_misses += other.cache_misses
        self.conflict_rounds = max(self.conflict_rounds, other.conflict_rounds)
        self.replay_seconds += other.replay_seconds
        self.append_seconds += other.append_seconds
        self.unknown_saga.extend(other.unknown_saga)
        self.transitions.extend(other.transitions)
        for key, count in other.consumed.items():
            self.consumed[key] = self.consumed.get(key, 0) + count
        for partition, held in other.held.items():
            if partition not in self.held or held.offset < self.held[partition].offset:
                self.held[partition] = held
        self.decided.update(other.decided)
        self.step_durations.extend(other.step_durations)

    def is_held(self, item: Inbound) -> bool:
        held = self.held.get(item.partition)
        return held is not None and item.record.offset >= held.offset


class ConflictStormError(Exception):
    """Streams kept conflicting for MAX_CONFLICT_ROUNDS rounds; retry the batch later."""


@dataclass(slots=True)
class _Plan:
    saga_type: str
    expected_version: int
    before: SagaInstance | None
    after: SagaInstance | None
    events: list[NewEvent]
    last_message_id: str
    partition: tuple[str, int]
    unknown: list[Inbound]
    duplicates: int
    consumed: dict[tuple[str, ConsumeOutcome], int]
    missing: MissingVersionError | None = None
    # Each decided event with the state before and after it, for the read models.
    folds: list[Fold] = field(default_factory=list)
    decided: dict[str, Decided] = field(default_factory=dict)
    step_durations: list[tuple[str, str, float]] = field(default_factory=list)


class SagaProcessor:
    def __init__(
        self,
        registry: SagaRegistry,
        store: EventStore,
        cache: StateCache[SagaInstance],
        clock: Callable[[], datetime],
        *,
        event_format: int = CURRENT_EVENT_FORMAT,
        read_models: ReadModelWriter | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        # None: the events alone (tests of the decision path; nothing reads rows there).
        self._read_models = read_models
        self._cache = cache
        self._clock = clock
        # The format sagas this worker starts are written in; each saga keeps its own after.
        self._event_format = event_format

    def process(self, items: Sequence[Inbound]) -> BatchOutcome:
        outcome = BatchOutcome()
        by_saga: dict[str, list[Inbound]] = {}
        for item in items:
            by_saga.setdefault(item.envelope.saga_id, []).append(item)
        pending = by_saga
        for round_number in range(MAX_CONFLICT_ROUNDS):
            outcome.conflict_rounds = round_number
            now = self._clock()
            plans = {
                saga_id: self._plan(saga_id, group, now, outcome, use_cache=round_number == 0)
                for saga_id, group in pending.items()
            }
            if any(plan.missing is not None for plan in plans.values()):
                plans = self._hold_missing(
                    plans, by_saga, now, outcome, use_cache=round_number == 0
                )
            appends = [
                StreamAppend(
                    stream_id=saga_id,
                    stream_type=plan.saga_type,
                    expected_version=plan.expected_version,
                    events=plan.events,
                    message_id=plan.last_message_id,
                )
                for saga_id, plan in plans.items()
                if plan.events
            ]
            started = time.perf_counter()
            result = self._append(appends, plans) if appends else None
            outcome.append_seconds += time.perf_counter() - started
            conflicts = set(result.conflicts) if result else set()
            if result is not None:
                # The store already held this append's message id: the plan was made on a state
                # that did not know that message, so it may mix new events with old ones.
                # Replay and decide again, exactly as after a version conflict.
                conflicts |= {s for s, r in result.appended.items() if r.deduplicated}
            for saga_id, plan in plans.items():
                if saga_id in conflicts:
                    self._cache.discard(saga_id)
                    continue
                self._settle(saga_id, plan, outcome)
            if not conflicts:
                return outcome
            log.info("append conflicts; replaying", streams=len(conflicts), round=round_number + 1)
            pending = {saga_id: by_saga[saga_id] for saga_id in conflicts}
        raise ConflictStormError(
            f"{len(pending)} sagas still conflicted after {MAX_CONFLICT_ROUNDS} rounds"
        )

    def _append(self, appends: list[StreamAppend], plans: dict[str, _Plan]) -> BatchAppendResult:
        if self._read_models is None:
            return self._store.append_batch(appends)
        folds = {saga_id: plan.folds for saga_id, plan in plans.items() if plan.folds}
        return self._read_models.append_batch(appends, folds)

    def _hold_missing(
        self,
        plans: dict[str, _Plan],
        by_saga: dict[str, list[Inbound]],
        now: datetime,
        outcome: BatchOutcome,
        *,
        use_cache: bool,
    ) -> dict[str, _Plan]:
        """Set aside the sagas of a missing version and everything behind their messages on
        the same partitions (re-planned without it): their partitions are left as they are for
        a worker that has the version. Rare (a rolling deploy), so the re-plan costs nothing
        on the hot path. `by_saga` is trimmed alike, for later conflict rounds."""
        for saga_id, plan in plans.items():
            if plan.missing is None:
                continue
            for item in by_saga.pop(saga_id):
                held = outcome.held.get(item.partition)
                if held is None or item.record.offset < held.offset:
                    outcome.held[item.partition] = Held(
                        item.record.offset, plan.missing.saga_type, plan.missing.version
                    )
        kept: dict[str, _Plan] = {}
        for saga_id, plan in plans.items():
            if plan.missing is not None:
                continue
            group = by_saga[saga_id]
            ahead = [item for item in group if not outcome.is_held(item)]
            if len(ahead) == len(group):
                kept[saga_id] = plan
            elif ahead:
                by_saga[saga_id] = ahead
                # Same state as the first plan: nothing was appended or cached meanwhile.
                kept[saga_id] = self._plan(saga_id, ahead, now, outcome, use_cache=use_cache)
            else:
                del by_saga[saga_id]
        return kept

    def _settle(self, saga_id: str, plan: _Plan, outcome: BatchOutcome) -> None:
        outcome.unknown_saga.extend(plan.unknown)
        outcome.duplicates += plan.duplicates
        consumed = outcome.consumed
        for key, count in plan.consumed.items():
            consumed[key] = consumed.get(key, 0) + count
        if plan.events:
            outcome.appended_streams += 1
            outcome.appended_events += len(plan.events)
        outcome.decided.update(plan.decided)
        outcome.step_durations.extend(plan.step_durations)
        if plan.after is not None:
            self._cache.put(plan.partition, saga_id, plan.after)
            before = plan.before.lifecycle if plan.before is not None else None
            if before != plan.after.lifecycle:
                outcome.transitions.append(
                    Transition(
                        saga_id,
                        plan.after.saga_type,
                        before,
                        plan.after.lifecycle,
                        plan.after.terminal,
                        plan.after.started_at,
                    )
                )

    def _load(
        self, saga_id: str, group: list[Inbound], outcome: BatchOutcome, *, use_cache: bool
    ) -> SagaInstance | None:
        if use_cache:
            cached = self._cache.get(saga_id)
            if cached is not None:
                outcome.cache_hits += 1
                return cached
            if all(item.is_start for item in group):
                return None  # assumed new; a conflict on append proves otherwise
        outcome.cache_misses += 1
        started = time.perf_counter()
        instance = self._registry.replay(self._store.read_stream(saga_id))
        outcome.replay_seconds += time.perf_counter() - started
        return instance

    def _plan(
        self,
        saga_id: str,
        group: list[Inbound],
        now: datetime,
        outcome: BatchOutcome,
        *,
        use_cache: bool,
    ) -> _Plan:
        events: list[NewEvent] = []
        folds: list[Fold] = []
        keep_folds = self._read_models is not None
        unknown: list[Inbound] = []
        consumed: dict[tuple[str, ConsumeOutcome], int] = {}
        try:
            before = self._load(saga_id, group, outcome, use_cache=use_cache)
        except MissingVersionError as missing:
            return _Plan(
                saga_type=missing.saga_type,
                expected_version=0,
                before=None,
                after=None,
                events=events,
                last_message_id="",
                partition=group[-1].partition,
                unknown=unknown,
                duplicates=0,
                consumed=consumed,
                missing=missing,
            )
        instance = before
        duplicates = 0
        decided_messages: dict[str, Decided] = {}
        step_durations: list[tuple[str, str, float]] = []
        saga_type = before.saga_type if before is not None else ""
        # The append's idempotency key: the last message that produced events. Never a
        # redelivered one the store already holds, or the store would take the whole append
        # for a repeat and drop the new events with it.
        producing_message_id = group[-1].envelope.message_id
        for item in group:
            envelope = item.envelope
            if instance is not None:
                definition = self._registry.for_instance(instance)
            else:
                start_definition = self._registry.for_start(envelope.message)
                if start_definition is None:
                    unknown.append(item)
                    continue
                definition = start_definition
            saga_type = definition.name
            decision = decide(
                definition,
                instance,
                envelope,
                DecisionContext.for_message(
                    now, envelope.message_id, event_format=self._event_format
                ),
            )
            decided = decision.events
            result: ConsumeOutcome
            if not decided:
                duplicates += 1
                result = "duplicate"
            else:
                if keep_folds:
                    previous = instance
                    for event, state in zip(decided, decision.states, strict=True):
                        folds.append((event, previous, state))
                        previous = state
                step_durations.extend(ended_steps(definition, instance, decided, now))
                instance = decision.instance
                producing_message_id = envelope.message_id
                metadata = _metadata(envelope)
                events.extend(event.to_new_event(metadata) for event in decided)
                # An ignored message is recorded (so a redelivery is a duplicate) and does
                # nothing else: the decider's ignore() emits ReplyIgnored alone.
                ignored = len(decided) == 1 and type(decided[0]) is ReplyIgnored
                result = "ignored" if ignored else "processed"
            if item.counted:
                key = (item.record.topic, result)
                consumed[key] = consumed.get(key, 0) + 1
            decided_messages[item.record.coordinates] = Decided(
                result,
                instance.lifecycle if instance is not None else None,
                envelope.step or first_step(decided),
                tuple(type(event).__name__ for event in decided),
            )
        return _Plan(
            saga_type=saga_type,
            expected_version=before.version if before is not None else 0,
            before=before,
            after=instance,
            events=events,
            last_message_id=producing_message_id,
            partition=group[-1].partition,
            unknown=unknown,
            duplicates=duplicates,
            consumed=consumed,
            folds=folds,
            decided=decided_messages,
            step_durations=step_durations,
        )


def _metadata(envelope: Envelope) -> dict[str, str]:
    metadata = {
        "causation_id": envelope.message_id,
        "correlation_id": envelope.correlation_id or envelope.saga_id,
    }
    if envelope.traceparent:
        metadata["traceparent"] = envelope.traceparent
    return metadata
