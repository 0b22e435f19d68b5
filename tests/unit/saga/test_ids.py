"""The derived ids are on-disk and on-wire format: pinned to uuid.uuid5 and to known values."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.saga._ids import (
    NAMESPACE,
    _uuid5,
    command_message_id,
    saga_id_for,
    timer_id_for,
    timer_message_id,
)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_the_fast_uuid5_is_uuid5(parts: list[str]) -> None:
    assert _uuid5(*parts) == str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def test_known_ids_never_change() -> None:
    saga = saga_id_for("order_fulfilment", "o-9")
    assert saga == "e6e0151d-18c3-5226-b9a7-b7d12263ce31"
    assert command_message_id(saga, "reserve_credit", 1, compensation=False) == str(
        uuid.uuid5(NAMESPACE, f"command\x1f{saga}\x1freserve_credit\x1f1\x1fexecute")
    )
    timer = timer_id_for(saga, "step_timeout", "reserve_credit", 1)
    assert timer == str(
        uuid.uuid5(NAMESPACE, f"timer\x1f{saga}\x1fstep_timeout\x1freserve_credit\x1f1")
    )
    assert timer_message_id(timer) == str(uuid.uuid5(NAMESPACE, f"timer-fired\x1f{timer}"))
