"""Deterministic identifiers: saga ids, command message ids, step keys, timer ids.

EVERY FUNCTION HERE IS PART OF THE ON-DISK AND ON-WIRE FORMAT. Saga ids are stream ids in the
event store and Kafka keys; command message ids are what participants deduplicate on; timer ids
are keys in the timer projection. Changing a namespace, a separator or the order of the parts
would make a second start of the same business key open a new saga, and a re-published command
look new to its participant. Never change them; add a new function instead.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

# Fixed random namespace for this project's uuid5 ids (generated once, never to change).
NAMESPACE: Final = uuid.UUID("6f1c2b8e-5a4d-4e2b-9c1f-3d7a0e9b8c21")

# ASCII unit separator: cannot appear by accident in a saga type or a step name, so
# ("a/b", "c") and ("a", "b/c") never collide.
_SEP: Final = "\x1f"


_NAMESPACE_BYTES: Final = NAMESPACE.bytes


def _uuid5(*parts: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, US.join(parts)))``, spelled out: the worker derives several
    ids per decision, and building ``uuid.UUID`` objects was a tenth of its CPU. Pinned to
    ``uuid.uuid5`` by a test."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + _SEP.join(parts).encode(), usedforsecurity=False).digest()[
            :16
        ]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def saga_id_for(saga_type: str, business_key: str) -> str:
    """The saga id of the instance started for `business_key`: uuid5(NAMESPACE, type US key).

    Independent of the definition version, so a start repeated after a new version is deployed
    still lands on the instance the first start created.
    """
    return _uuid5("saga", saga_type, business_key)


def command_message_id(saga_id: str, step: str, attempt: int, *, compensation: bool) -> str:
    """Message id of the command a step attempt sends: one id per (saga, step, attempt, kind)."""
    kind = "compensate" if compensation else "execute"
    return _uuid5("command", saga_id, step, str(attempt), kind)


def step_key_for(saga_id: str, step: str, *, compensation: bool, epoch: int = 1) -> str:
    """The step key of a command: what a participant deduplicates on, so that it executes one
    step (or one compensation) at most once however many attempts reach it.

    An intent is every attempt that might have the same effect; all of them carry one key.
    Attempts retried after a timeout continue the intent (the first may have run: the retry
    must be answered with its reply, not run again), and so does an operator RetryStep: a step
    or compensation usually fails through timeouts, any of which may have run at a slow
    participant. A new intent, and so a new key, starts only after a failure reply, which
    proves nothing happened (a step answered with a failure and retried by the operator, a
    compensation retried after a rejection), at `epoch` = the attempt number that begins it.
    A refusal (CommandRefused) starts none: the participant's tombstone answers every later
    execute anyway. Event format 3 writes the key into every CommandIssued.step_key; formats 1
    and 2 write none (their commands are deduplicated per attempt, on the message id). Never
    change either spelling.
    """
    kind = "compensate" if compensation else "execute"
    if epoch == 1:
        return _uuid5("step", saga_id, step, kind)
    return _uuid5("step", saga_id, step, kind, str(epoch))


def timer_id_for(saga_id: str, purpose: str, step: str | None, attempt: int | None) -> str:
    """Id of a durable timer; each (purpose, step, attempt) is scheduled at most once."""
    return _uuid5("timer", saga_id, purpose, step or "", "" if attempt is None else str(attempt))


def timer_message_id(timer_id: str) -> str:
    """Message id of the TimerFired message for a timer: a timer fires at most once."""
    return _uuid5("timer-fired", timer_id)
