"""Throughput of `sagactl audit` and `sagactl verify` (the store, and an export offline) over a
store of a million events.

    .venv/bin/python -m load_tests.bench_audit [--events 1000000] [--jobs 2] [--skip-export]

Builds a scratch store of order sagas (load_tests/_bulk_sagas.py: decided histories, one in
three compensated, chained and written with COPY, projections folded by `rebuild`), then times
the very functions the commands call, in wall time and in CPU time (this process's and, with
--jobs above 1, its slices' processes'; on a shared box the CPU figure is the work itself,
without the waits for a core; the database's share of a store scan is in neither):

  verify_store    `sagactl verify` / `db verify`: every chain recomputed in one streamed scan
  verify_export   `sagactl verify --file`: an export of the whole store checked offline
  audit           `sagactl audit`: every invariant, every saga folded by the live evolve

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from load_tests._bulk_sagas import fill
from load_tests._harness import scratch_database
from orchestrator.archive import ExportSelection, export_store, verify_export_file, verify_store
from orchestrator.config import Settings
from orchestrator.forensics.audit_store import audit_store
from orchestrator.saga import SagaRegistry
from sagas.order_fulfilment import OrderFulfilment

T = TypeVar("T")


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the slices')."""
    own, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.user + own.system + children.ru_utime + children.ru_stime


def timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), _cpu()
    result = work()
    return result, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="as --jobs")
    parser.add_argument("--skip-export", action="store_true", help="time the store only")
    args = parser.parse_args()
    figures: dict[str, float | int | str] = {
        "jobs": args.jobs,
        "load_average_at_start": os.getloadavg()[0],
    }
    with scratch_database(Settings.from_env()) as settings:
        (sagas, events), wall, _ = timed(
            lambda: fill(settings.database_url, settings.owner_database_url, args.events)
        )
        figures.update(sagas=sagas, events=events, build_s=round(wall))

        report, wall, cpu = timed(lambda: verify_store(settings.database_url, jobs=args.jobs))
        assert report.ok, report.breaks[:3]
        assert report.events_checked == events, report
        figures.update(verify_store_events_per_s=round(events / wall))
        figures.update(verify_store_events_per_cpu_s=round(events / cpu))

        registry = SagaRegistry([OrderFulfilment])
        audited, wall, cpu = timed(
            lambda: audit_store(
                settings.database_url,
                registry,
                datetime.now(UTC),
                timedelta(minutes=5),
                jobs=args.jobs,
            )
        )
        assert not audited.violations, audited.violations[:3]
        assert audited.events == events
        figures.update(audit_events_per_s=round(events / wall))
        figures.update(audit_events_per_cpu_s=round(events / cpu))

        if not args.skip_export:
            key = Ed25519PrivateKey.generate()
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / "store.jsonl"
                with path.open("wb") as out:
                    _, wall, _ = timed(
                        lambda: export_store(settings.database_url, out, key, ExportSelection())
                    )
                figures.update(export_s=round(wall), export_bytes=path.stat().st_size)
                summary, wall, cpu = timed(lambda: verify_export_file(path, key.public_key()))
                assert summary.events == events
                figures.update(verify_export_events_per_s=round(events / wall))
                figures.update(verify_export_events_per_cpu_s=round(events / cpu))
    figures["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
