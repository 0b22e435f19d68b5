"""Throughput of signed exports, offline verification, import and anchors over a large store.

    .venv/bin/python -m load_tests.bench_archive [--events 200000]

Builds a scratch store with the event-store benchmark's batched appends (5,000 streams, events
like a saga's), then times: `export` of everything to a file, offline `verify` of that file,
`import` into a second scratch store (verification pass included), reading every head and
signing an anchor, and comparing the store against that anchor. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from load_tests.bench_event_store import bench_batched, scratch_database
from orchestrator.archive import (
    ExportSelection,
    compare_heads,
    encode_anchor,
    export_store,
    import_export,
    read_anchor,
    verify_export_file,
)
from orchestrator.archive._postgres import stored_heads
from orchestrator.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    settings = Settings.from_env()
    key = Ed25519PrivateKey.generate()
    figures: dict[str, float | int] = {}
    with scratch_database(settings) as source, tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        events = bench_batched(source, args.events // 100, writer=0, versions={})
        figures["build_s"] = round(time.perf_counter() - started, 1)
        figures["events"] = events
        path = Path(scratch) / "export.jsonl"

        started = time.perf_counter()
        with path.open("wb") as out:
            header = export_store(source, out, key, ExportSelection())
        elapsed = time.perf_counter() - started
        figures["streams"] = header.streams
        figures["export_bytes"] = os.path.getsize(path)
        figures["export_events_per_s"] = round(events / elapsed)

        started = time.perf_counter()
        summary = verify_export_file(path, key.public_key())
        elapsed = time.perf_counter() - started
        assert summary.events == events
        figures["verify_offline_events_per_s"] = round(events / elapsed)

        with scratch_database(settings) as target:
            started = time.perf_counter()
            result = import_export(target, path, key.public_key())
            elapsed = time.perf_counter() - started
            assert result.verify.ok
            assert result.imported == events
            figures["import_events_per_s"] = round(events / elapsed)

        started = time.perf_counter()
        anchor = read_anchor(source, datetime.now(UTC))
        encoded = encode_anchor(anchor, key)
        figures["anchor_ms"] = round((time.perf_counter() - started) * 1000)
        figures["anchor_bytes"] = len(encoded)

        started = time.perf_counter()
        with psycopg.connect(source) as conn:
            findings = compare_heads(anchor, stored_heads(conn, anchor))
        figures["check_anchor_ms"] = round((time.perf_counter() - started) * 1000)
        assert findings == []
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
