"""Garbage-collector settings for the long-running processes (worker, projector, participant).

CPython runs a cyclic collection every 700 net allocations in the young generation, and every so
often a full one that walks every live object. A worker allocates a few hundred objects per event
it decides and keeps a state cache of up to 100,000 sagas alive, so the full collections grow
with the cache: in the saga benchmark with 20,000 sagas in flight, the worker spent about 25%
more CPU per saga than with 5,000. Freezing what start-up allocated (modules, classes, the codec,
the saga definitions) takes it out of every collection, and a larger young-generation threshold
makes collections rarer; nearly all of the worker's garbage is freed by reference counting
anyway. Memory is unaffected in practice: the objects collected late are few and short-lived.
"""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int) -> None:
    """Freeze start-up objects and collect the young generation every `gen0_threshold`
    allocations; 0 leaves the interpreter's defaults."""
    if gen0_threshold == 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
