"""The test suite's shared helpers: the one wait, the one scratch database, the one background
runner. Every test that waits, needs a database of its own or runs something in a thread uses
these, so a failure always reads the same way: what was awaited, and what was seen last."""

from __future__ import annotations

from tests.support.background import Background
from tests.support.databases import ScratchDb, scratch_database
from tests.support.waiting import eventually

__all__ = ["Background", "ScratchDb", "eventually", "scratch_database"]
