"""What one delivered message did, with assertions that print readable differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.messages import Message
from orchestrator.saga import Envelope, SagaDefinition
from orchestrator.saga import events as ev

E = TypeVar("E", bound=ev.SagaEvent)


@dataclass(frozen=True, slots=True)
class IssuedCommand:
    """A command the saga asked the worker to publish (decoded from CommandIssued)."""

    message: Message
    step: str
    attempt: int
    compensation: bool
    topic: str
    message_id: str  # unique per attempt
    # What the participant dedupes on, exactly what the relay sends as saga_step_key (both take
    # it from CommandIssued.dedupe_key): in format 3 the same for every attempt of the step's
    # current intent, another one for its compensation; in formats 1 and 2 the message id.
    step_key: str

    @property
    def kind(self) -> str:
        """``execute`` or ``compensate``, as the relay sends it (header saga_command_kind)."""
        return "compensate" if self.compensation else "execute"

    @classmethod
    def of(cls, definition: SagaDefinition, event: ev.CommandIssued) -> IssuedCommand:
        message = definition.message_types[event.message_type].model_validate(event.payload)
        return cls(
            message=message,
            step=event.step,
            attempt=event.attempt,
            compensation=event.compensation,
            topic=event.topic,
            message_id=event.message_id,
            step_key=event.dedupe_key,
        )


def _describe(items: Sequence[object]) -> str:
    return "\n".join(f"  {i}: {item!r}" for i, item in enumerate(items)) or "  (none)"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The events and commands produced by delivering one message to one saga."""

    envelope: Envelope
    events: tuple[ev.SagaEvent, ...]
    commands: tuple[IssuedCommand, ...]

    def expect_events(self, *expected: type[ev.SagaEvent] | ev.SagaEvent) -> Outcome:
        """The events, in order: each given as an event type, or as an event that must be equal."""
        ok = len(expected) == len(self.events) and all(
            (isinstance(e, x) if isinstance(x, type) else e == x)
            for e, x in zip(self.events, expected, strict=False)
        )
        if not ok:
            names = [x.__name__ if isinstance(x, type) else x for x in expected]
            raise AssertionError(
                f"events differ\nexpected:\n{_describe(names)}\nactual:\n{_describe(self.events)}"
            )
        return self

    def expect_event(self, expected: type[E]) -> E:
        """The one event of this type (fails if there is none or several)."""
        found = [e for e in self.events if isinstance(e, expected)]
        if len(found) != 1:
            raise AssertionError(
                f"expected one {expected.__name__}, found {len(found)} in:\n"
                f"{_describe(self.events)}"
            )
        return found[0]

    def expect_commands(self, *expected: Message) -> Outcome:
        """The commands issued, in order, compared by value (type and every field)."""
        actual = [c.message for c in self.commands]
        if actual != list(expected):
            raise AssertionError(
                f"commands differ\nexpected:\n{_describe(expected)}\nactual:\n{_describe(actual)}"
            )
        return self

    def expect_no_commands(self) -> Outcome:
        return self.expect_commands()

    def expect_unchanged(self) -> Outcome:
        """Nothing happened at all: the message was a redelivery."""
        return self.expect_events()

    def expect_ignored(self, reason: str | None = None) -> Outcome:
        """The message was recorded as ignored (late, duplicate, stale...) and changed nothing."""
        ignored = self.expect_events(ev.ReplyIgnored).events[0]
        assert isinstance(ignored, ev.ReplyIgnored)
        if reason is not None and ignored.reason != reason:
            raise AssertionError(f"ignored as {ignored.reason!r}, expected {reason!r}")
        return self
