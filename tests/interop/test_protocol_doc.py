"""docs/PROTOCOL.md stays true to the code it describes: every header, the reply id algorithm
and its test vector, the step key's derivation of the vector's command."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator import headers
from orchestrator.participant import reply_message_id
from orchestrator.participant._participant import _REPLY_NAMESPACE
from orchestrator.saga import command_message_id, saga_id_for
from orchestrator.saga._ids import NAMESPACE

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()


def test_the_document_is_versioned() -> None:
    assert re.search(r"^# Protocol version 1$", PROTOCOL, re.MULTILINE)
    assert "- Version 1 (this document)" in PROTOCOL


def test_every_header_is_documented() -> None:
    names = {
        value
        for name, value in vars(headers).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("COMMAND_KIND_")
    }
    missing = sorted(n for n in names if f"`{n}`" not in PROTOCOL)
    assert not missing, f"headers missing from docs/PROTOCOL.md: {missing}"
    for kind in (headers.COMMAND_KIND_EXECUTE, headers.COMMAND_KIND_COMPENSATE):
        assert f"`{kind}`" in PROTOCOL


def test_the_reply_id_algorithm_and_vector_match_the_sdk() -> None:
    assert str(_REPLY_NAMESPACE) in PROTOCOL
    assert str(NAMESPACE) in PROTOCOL  # saga ids, section 6
    vector = re.search(
        r"the command id\s+`([0-9a-f-]{36})` gives the reply id\s+`([0-9a-f-]{36})`", PROTOCOL
    )
    assert vector is not None
    command_id, reply_id = vector.groups()
    assert reply_message_id(command_id) == reply_id
    saga_vector = re.search(r"give the saga id `([0-9a-f-]{36})`", PROTOCOL)
    assert saga_vector is not None
    saga_id = saga_id_for("order_fulfilment", "o-1")
    assert saga_vector.group(1) == saga_id
    # The reply vector's command id is real too: attempt 1 of the inventory step of order o-1.
    assert command_message_id(saga_id, "reserve_inventory", 1, compensation=False) == command_id
