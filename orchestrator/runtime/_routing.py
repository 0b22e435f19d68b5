"""Routing: which saga a consumed record is for, decoded into the message the decider takes.

A record that cannot be decoded or attributed to a saga is poison: set aside here with a precise
reason (dead-lettered by `DeadLetterPolicy`), never sent anywhere from this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator import headers as h
from orchestrator.codec import Codec, DecodeError
from orchestrator.kafka import ConsumedRecord
from orchestrator.messages import Message
from orchestrator.outage import is_outage
from orchestrator.runtime._processor import Inbound
from orchestrator.saga import CONTROL_MESSAGES, Envelope, SagaRegistry


class RoutingError(Exception):
    """A message the worker cannot attribute to a saga (no saga id, or a saga that does not
    exist); dead-lettered like undecodable input."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


Poison = tuple[ConsumedRecord, BaseException, str]  # the record, why, the dead-letter reason


@dataclass(slots=True)
class Routed:
    inbound: list[Inbound] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Routes:
    """Which message types each consumed topic accepts, and which topics exist."""

    accepted: dict[str, tuple[type[Message], ...]]
    start_topics: frozenset[str]
    command_topics: frozenset[str]

    @classmethod
    def of(cls, registry: SagaRegistry) -> Routes:
        accepted: dict[str, set[type[Message]]] = {}
        for definition in registry.definitions:
            accepted.setdefault(definition.start_topic, set()).add(definition.start_type)
            replies = accepted.setdefault(definition.reply_topic, set(CONTROL_MESSAGES))
            for step in definition.steps.values():
                replies.update(step.success + step.failure)
                if step.compensation is not None:
                    replies.update(step.compensation.success + step.compensation.failure)
        return cls(
            accepted={topic: tuple(types) for topic, types in accepted.items()},
            start_topics=registry.start_topics,
            command_topics=registry.command_topics,
        )

    @property
    def consumed(self) -> list[str]:
        return sorted(self.accepted)

    @staticmethod
    def bindings(registry: SagaRegistry) -> list[tuple[str, str]]:
        """Every (topic, Avro record) pair the registered sagas put on Kafka or read from it:
        what the schema registry's subjects are named after (TopicRecordNameStrategy)."""
        pairs = {
            (topic, cls.avro_name)
            for topic, types in Routes.of(registry).accepted.items()
            for cls in types
        }
        for definition in registry.definitions:
            for step in definition.steps.values():
                pairs.add((step.topic, step.command.avro_name))
                if step.compensation is not None:
                    pairs.add((step.compensation.topic, step.compensation.command.avro_name))
        return sorted(pairs)


def saga_id_of(record: ConsumedRecord) -> str:
    """The saga a reply or control message is for: replies and control messages are keyed by
    saga id, and the header says so explicitly ("" when the record names none)."""
    return record.header(h.SAGA_ID) or (record.key or b"").decode("utf-8", "replace")


class Router:
    def __init__(self, routes: Routes, registry: SagaRegistry, codec: Codec) -> None:
        self.routes = routes
        self._registry = registry
        self._codec = codec

    def route_all(self, records: Sequence[ConsumedRecord]) -> Routed:
        """Decode and route every record; poison is set aside, nothing is sent anywhere."""
        routed = Routed()
        for record in records:
            try:
                routed.inbound.append(self.route(record))
            except (DecodeError, RoutingError) as exc:
                routed.poison.append((record, exc, exc.reason))
            except Exception as exc:
                if is_outage(exc):
                    raise
                routed.poison.append((record, exc, "routing_error"))
        return routed

    def route(self, record: ConsumedRecord) -> Inbound:
        accepted = self.routes.accepted.get(record.topic)
        if accepted is None:
            raise RoutingError("unexpected_topic", f"the worker does not consume {record.topic}")
        message = self._codec.decode(record.topic, record.value, accepted=accepted)
        message_id = record.header(h.MESSAGE_ID) or record.coordinates
        if record.topic in self.routes.start_topics:
            saga_id = self._registry.saga_id_for_start(message)
            if saga_id is None:
                raise RoutingError("not_a_start", f"{message.avro_name} starts no saga")
            is_start = True
        else:
            saga_id = saga_id_of(record)
            if not saga_id:
                raise RoutingError("missing_saga_id", f"{record.coordinates} names no saga")
            is_start = False
        attempt = record.header(h.ATTEMPT)
        envelope = Envelope(
            message=message,
            message_id=message_id,
            saga_id=saga_id,
            step=record.header(h.STEP),
            attempt=int(attempt) if attempt and attempt.isdigit() else None,
            correlation_id=record.header(h.CORRELATION_ID),
            causation_id=record.header(h.CAUSATION_ID),
            traceparent=record.header(h.TRACEPARENT),
        )
        return Inbound(record, envelope, is_start)
