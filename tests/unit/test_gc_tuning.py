"""tune_gc: start-up objects frozen, young collections rarer; 0 leaves Python alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from orchestrator.cli._gc import tune_gc
from orchestrator.config import Settings


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_tuning_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    _, gen1, gen2 = gc.get_threshold()
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restore_gc")
def test_zero_keeps_the_interpreter_defaults() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_the_setting_defaults_to_50000_and_reads_the_environment() -> None:
    assert Settings.from_env({}).gc_gen0_threshold == 50_000
    assert Settings.from_env({"SAGA_GC_GEN0_THRESHOLD": "0"}).gc_gen0_threshold == 0
