"""Schema evolution rules: may a new schema join a subject whose earlier versions exist?

The resolution rules themselves are the Avro reference implementation's
(`avro.compatibility.ReaderWriterCompatibilityChecker`): registries that re-implement them drift
apart. This module only decides which pairs to compare for each compatibility level, with the
same meaning as Confluent Schema Registry's levels.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "CompatibilityLevel",
    "Incompatibility",
    "check_compatibility",
]


class CompatibilityLevel(enum.StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"  # the new schema reads data written with the latest version
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"  # ... with every earlier version
    FORWARD = "FORWARD"  # the latest version reads data written with the new schema
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"  # every earlier version reads it
    FULL = "FULL"  # both, against the latest version
    FULL_TRANSITIVE = "FULL_TRANSITIVE"  # both, against every version

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.startswith(("FORWARD", "FULL"))


# Replay reads every version ever written, so a new reader must read all of them.
DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD_TRANSITIVE


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """Why the candidate schema cannot join the subject, against one earlier version."""

    version: int  # the registered version compared with
    direction: (
        str  # "backward": the candidate cannot read it; "forward": it cannot read the candidate
    )
    kinds: tuple[str, ...]  # Avro's incompatibility types, e.g. "type_mismatch"
    messages: tuple[str, ...]
    locations: tuple[str, ...]  # JSON-pointer-like paths into the reader schema

    def describe(self) -> str:
        where = ", ".join(self.locations) or "/"
        return (
            f"v{self.version} ({self.direction}): {', '.join(self.kinds)} at {where}: "
            f"{'; '.join(self.messages)}"
        )


def check_compatibility(
    candidate: str,
    registered: Sequence[tuple[int, str]],
    level: CompatibilityLevel,
) -> list[Incompatibility]:
    """Compare `candidate` with the subject's `(version, schema text)` pairs under `level`.

    Returns every incompatibility found (empty when the candidate may be registered).
    """
    if level is CompatibilityLevel.NONE or not registered:
        return []
    ordered = sorted(registered)
    against = ordered if level.transitive else ordered[-1:]
    new = avro.schema.parse(candidate)
    found: list[Incompatibility] = []
    for version, text in against:
        old = avro.schema.parse(text)
        if level.backward:
            found.extend(_compare(reader=new, writer=old, version=version, direction="backward"))
        if level.forward:
            found.extend(_compare(reader=old, writer=new, version=version, direction="forward"))
    return found


def _compare(
    *, reader: avro.schema.Schema, writer: avro.schema.Schema, version: int, direction: str
) -> list[Incompatibility]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # unannotated
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    return [
        Incompatibility(
            version=version,
            direction=direction,
            kinds=tuple(sorted({kind.value for kind in result.incompatibilities})),
            messages=tuple(sorted(result.messages)),
            locations=tuple(sorted(loc for loc in result.locations if loc != "/")),
        )
    ]
