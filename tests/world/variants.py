"""A saga on topics of its own (`<topic>.<suffix>`), so a world on the shared broker neither
sees nor disturbs anyone else's messages. On the in-memory broker every world is alone anyway;
the variant is used there too, so both stacks run exactly the same saga."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from orchestrator.saga import Saga

S = TypeVar("S", bound=Saga[Any, Any])


def on_own_topics(saga: type[S], suffix: str) -> type[S]:
    """`saga` named `<name>_<suffix>`, with every topic it uses (commands, compensations, start,
    replies) suffixed `.<suffix>`; its own routes and prefix are kept."""
    topics = dataclasses.replace(saga.topics, suffix=f"{saga.topics.suffix}.{suffix}")
    return saga.variant(name=f"{saga.definition.name}_{suffix}", topics=topics)
