"""The order saga with topics of its own, so that a test's worker neither sees nor disturbs
anyone else's messages on the shared broker.

`make_variant(suffix)` builds the class in the test process; a worker started as a child
process (`python -m orchestrator.cli worker` with SAGA_SAGAS=tests.integration.worker.isolated:
IsolatedOrder) builds the same class from SAGA_TEST_SUFFIX.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from typing import Any

from orchestrator.saga import RetryPolicy, Step, Topics
from sagas.order_fulfilment import OrderFulfilment

AnyStep = Step[Any, Any, Any, Any]


def make_variant(
    suffix: str,
    *,
    timeout: timedelta | None = None,
    retry: RetryPolicy | None = None,
    compensation_topics: bool = False,
) -> type[OrderFulfilment]:
    """OrderFulfilment on `<topic>.<suffix>` topics; `timeout` and `retry` replace every
    step's (and compensation's) timeout and forward retry policy when given;
    `compensation_topics` sends each compensation to a destination of its own
    (`<destination>.compensations`), where it can overtake its command."""

    def adjust(step: AnyStep) -> AnyStep:
        undo = step.compensate
        if undo is not None:
            undo = dataclasses.replace(
                undo,
                to=f"{step.to}.compensations" if compensation_topics else undo.to,
                timeout=timeout if timeout is not None else undo.timeout,
            )
        return dataclasses.replace(
            step,
            timeout=timeout if timeout is not None else step.timeout,
            retry=retry if retry is not None else step.retry,
            compensate=undo,
        )

    return OrderFulfilment.variant(
        name=f"order_{suffix}", topics=Topics(suffix=f".{suffix}"), adjust=adjust
    )


_SUFFIX = os.environ.get("SAGA_TEST_SUFFIX")
_TIMEOUT_S = os.environ.get("SAGA_TEST_TIMEOUT_S")
if _SUFFIX:
    IsolatedOrder = make_variant(
        _SUFFIX, timeout=timedelta(seconds=float(_TIMEOUT_S)) if _TIMEOUT_S else None
    )
