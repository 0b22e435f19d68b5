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

from orchestrator.saga import RetryPolicy
from sagas.order_fulfilment import OrderFulfilment


def make_variant(
    suffix: str,
    *,
    timeout: timedelta | None = None,
    retry: RetryPolicy | None = None,
    compensation_topics: bool = False,
) -> type[OrderFulfilment]:
    """OrderFulfilment on `<topic>.<suffix>` topics; `timeout` and `retry` replace every
    step's (and compensation's) timeout and forward retry policy when given;
    `compensation_topics` sends each compensation to a topic of its own
    (`<topic>.compensations.<suffix>`), where it can overtake its command."""
    steps = []
    for original in OrderFulfilment.steps:
        assert isinstance(original, type(OrderFulfilment.steps[0]))
        compensation_topic = original.compensation_topic or original.topic
        if compensation_topics:
            compensation_topic = f"{original.topic}.compensations"
        changes: dict[str, Any] = {
            "topic": f"{original.topic}.{suffix}",
            "compensation_topic": f"{compensation_topic}.{suffix}",
        }
        if timeout is not None:
            changes["timeout"] = timeout
            changes["compensation_timeout"] = timeout
        if retry is not None:
            changes["retry"] = retry
        steps.append(dataclasses.replace(original, **changes))
    variant = type(
        f"Order_{suffix}",
        (OrderFulfilment,),
        {
            "__module__": __name__,
            "name": f"order_{suffix}",
            "steps": tuple(steps),
            "start_topic": f"order.start.{suffix}",
            "reply_topic": f"order.replies.{suffix}",
        },
    )
    return variant


_SUFFIX = os.environ.get("SAGA_TEST_SUFFIX")
_TIMEOUT_S = os.environ.get("SAGA_TEST_TIMEOUT_S")
if _SUFFIX:
    IsolatedOrder = make_variant(
        _SUFFIX, timeout=timedelta(seconds=float(_TIMEOUT_S)) if _TIMEOUT_S else None
    )
