"""The replay check (Temporal's replayer, for sagas).

A recorded history holds the inputs of every decision (each decision opens with an event that
records the message it handled, and the clock reading). The check re-runs those inputs through
the saga classes registered now and compares, decision by decision, the events they emit
(commands included) with the events that were recorded. A difference means a deployed change
would make live instances behave differently from how they started: bump the definition
version and keep the old class registered instead.

Histories are JSON Lines: one ``{"event_type", "schema_version", "data"}`` object per event,
the shape the event store records (extra keys such as ``version`` or ``metadata`` are ignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchestrator.saga import events as ev
from orchestrator.saga._decider import decide
from orchestrator.saga._envelope import DecisionContext, Envelope
from orchestrator.saga._evolve import evolve
from orchestrator.saga._ids import saga_id_for
from orchestrator.saga._registry import SagaRegistry
from orchestrator.saga._state import SagaInstance


@dataclass(frozen=True, slots=True)
class Divergence:
    decision: int  # 0-based index of the decision that diverged
    position: int  # 0-based index in the history of the first differing event
    message_id: str
    expected: ev.SagaEvent | None  # as recorded
    actual: ev.SagaEvent | None  # as emitted by the current classes
    error: str = ""

    def __str__(self) -> str:
        head = f"decision {self.decision} (message {self.message_id}), event {self.position}"
        if self.error:
            return f"{head}: {self.error}"
        return f"{head}:\n  recorded: {self.expected!r}\n  now:      {self.actual!r}"


@dataclass(frozen=True, slots=True)
class ReplayReport:
    source: str
    saga_type: str
    definition_version: int
    decisions: int
    divergence: Divergence | None  # the first one; later ones would only be its echoes

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def __str__(self) -> str:
        what = f"{self.source}: {self.saga_type} v{self.definition_version}"
        if self.ok:
            return f"{what}: {self.decisions} decisions replayed, no divergence"
        return f"{what}: DIVERGES at {self.divergence}"


def load_history(path: Path) -> list[ev.SagaEvent]:
    history = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            history.append(
                ev.event_from_data(row["event_type"], row["data"], row.get("schema_version", 1))
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a saga event: {exc}") from exc
    return history


def dump_history(history: Iterable[ev.SagaEvent], path: Path) -> None:
    lines = []
    for event in history:
        stored = event.to_new_event()
        row = {
            "event_type": stored.event_type,
            "schema_version": stored.schema_version,
            "data": stored.data,
        }
        lines.append(json.dumps(row, sort_keys=True))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _decisions(history: Sequence[ev.SagaEvent]) -> list[tuple[int, list[ev.SagaEvent]]]:
    """Split a history into (start position, events) per decision."""
    groups: list[tuple[int, list[ev.SagaEvent]]] = []
    for position, event in enumerate(history):
        if event.inbound is not None or not groups:
            groups.append((position, [event]))
        else:
            groups[-1][1].append(event)
    return groups


def check_history(
    registry: SagaRegistry, history: Sequence[ev.SagaEvent], source: str = "<history>"
) -> ReplayReport:
    definition = registry.for_history(history)
    first = history[0]
    assert isinstance(first, ev.SagaStarted)
    saga_id = saga_id_for(first.saga_type, first.business_key)
    instance: SagaInstance | None = None
    groups = _decisions(history)

    def report(divergence: Divergence | None) -> ReplayReport:
        return ReplayReport(
            source, first.saga_type, first.definition_version, len(groups), divergence
        )

    for index, (start, recorded) in enumerate(groups):
        received = recorded[0].inbound
        if received is None:
            return report(Divergence(index, start, "", recorded[0], None, "no inbound message"))
        try:
            message_type = definition.message_types[received.message_type]
            envelope = Envelope(
                message=message_type.model_validate(received.payload),
                message_id=received.message_id,
                saga_id=saga_id,
                step=received.step,
                attempt=received.attempt,
            )
            # A history replays in the format it was written in, as its saga ran live.
            context = DecisionContext.for_message(
                datetime.fromisoformat(received.at),
                received.message_id,
                event_format=first.event_format,
            )
            emitted = list(decide(definition, instance, envelope, context).events)
        # Anything the current classes raise on a recorded input is itself a divergence to
        # report, not a crash of the checker.
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
            return report(Divergence(index, start, received.message_id, recorded[0], None, error))
        for offset in range(max(len(recorded), len(emitted))):
            want = recorded[offset] if offset < len(recorded) else None
            got = emitted[offset] if offset < len(emitted) else None
            if want != got:
                return report(Divergence(index, start + offset, received.message_id, want, got))
        for event in recorded:
            instance = evolve(definition, instance, event)
    return report(None)


def check_histories(registry: SagaRegistry, paths: Iterable[Path]) -> list[ReplayReport]:
    return [check_history(registry, load_history(p), str(p)) for p in sorted(paths)]
