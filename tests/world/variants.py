"""A saga on topics of its own (`<topic>.<suffix>`), so a world on the shared broker neither
sees nor disturbs anyone else's messages. On the in-memory broker every world is alone anyway;
the variant is used there too, so both stacks run exactly the same saga."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from orchestrator.saga import Parallel, Saga, Step

S = TypeVar("S", bound=Saga)


def _moved(step: Step, suffix: str) -> Step:
    return dataclasses.replace(
        step,
        topic=f"{step.topic}.{suffix}",
        compensation_topic=f"{step.compensation_topic or step.topic}.{suffix}",
    )


def on_own_topics(saga: type[S], suffix: str) -> type[S]:
    steps: list[Step | Parallel] = []
    for item in saga.steps:
        if isinstance(item, Parallel):
            steps.append(
                dataclasses.replace(item, steps=tuple(_moved(s, suffix) for s in item.steps))
            )
        else:
            steps.append(_moved(item, suffix))
    variant: type[S] = type(
        f"{saga.__name__}_{suffix}",
        (saga,),
        {
            "__module__": __name__,
            "name": f"{saga.definition.name}_{suffix}",
            "steps": tuple(steps),
            "start_topic": f"{saga.definition.start_topic}.{suffix}",
            "reply_topic": f"{saga.definition.reply_topic}.{suffix}",
        },
    )
    return variant
