"""`sagactl saga list` and `saga stuck` on a store of many sagas (default 100,000).

The store: every saga is a copy of a recorded history (tests/histories/, a compensated order:
24 events), inserted by one INSERT ... SELECT as the owner (the hash chains are not what is
measured, and appending 1.8 M events through the store would take minutes); saga n starts
n ms after the first, its events a second apart. `saga_instances` gets the rows the projection
would hold by one INSERT (1 % of them still running), so the listings meet as many rows.

Figures: wall time of each command in-process through click (interpreter start excluded),
median of --rounds:
  list                 first page (50), most recently updated first
  list --after         a page from the middle (keyset: costs what page 1 costs)
  list --at            first page of statuses at an instant in the middle, folded from the log
  list --at (all)      --at with a filter nothing matches: the fold of every saga started by T
  stuck                saga stuck --older-than 10m

    .venv/bin/python -m load_tests.bench_saga_list [--sagas 100000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from click.testing import CliRunner

from load_tests._harness import scratch_database
from orchestrator.cli import sagactl
from orchestrator.config import Settings
from orchestrator.saga import load_history

HISTORY = (
    Path(__file__).resolve().parents[1] / "tests/histories/order_fulfilment_v1_compensated.jsonl"
)
FIRST_START = datetime(2026, 1, 1, tzinfo=UTC)

_SEED_EVENTS = """
INSERT INTO events (stream_id, stream_type, version, event_type, schema_version, data,
                    metadata, recorded_at, hash)
SELECT format('s-%%s', lpad(n::text, 7, '0')), 'order_fulfilment', h.version, h.event_type,
       h.schema_version, h.data, '{}'::jsonb,
       %(first)s + n * interval '1 millisecond' + h.version * interval '1 second',
       repeat('0', 64)
FROM generate_series(1, %(sagas)s) AS n
CROSS JOIN (SELECT * FROM unnest(%(versions)s::int[], %(types)s::text[], %(schemas)s::int[],
                                  %(datas)s::jsonb[])
            AS u(version, event_type, schema_version, data)) AS h
"""
_SEED_INSTANCES = """
INSERT INTO saga_instances
SELECT format('s-%%s', lpad(n::text, 7, '0')), 'order_fulfilment',
       CASE WHEN n %% 100 = 0 THEN 'running' ELSE 'compensated' END, NULL, 'reserve_credit', 1,
       format('o-%%s', n), %(first)s + n * interval '1 millisecond',
       %(first)s + n * interval '1 millisecond' + %(length)s * interval '1 second',
       %(length)s, n * %(length)s
FROM generate_series(1, %(sagas)s) AS n
"""


def seed(settings: Settings, sagas: int) -> int:
    history = [event.to_new_event() for event in load_history(HISTORY)]
    params = {
        "first": FIRST_START,
        "sagas": sagas,
        "versions": list(range(1, len(history) + 1)),
        "types": [e.event_type for e in history],
        "schemas": [e.schema_version for e in history],
        "datas": [json.dumps(e.data) for e in history],
        "length": len(history),
    }
    with psycopg.connect(settings.owner_database_url, autocommit=True) as conn:
        conn.execute(_SEED_EVENTS, params)
        conn.execute(_SEED_INSTANCES, params)
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE saga_instances")
    return len(history)


def timed(env: dict[str, str], argv: list[str], rounds: int) -> tuple[float, int]:
    runner = CliRunner()
    times = []
    rows = 0
    for _ in range(rounds):
        started = time.perf_counter()
        result = runner.invoke(sagactl, [*argv, "--output", "json"], env=env)
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, (argv, result.output, result.exception)
        rows = len(json.loads(result.stdout))
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sagas", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with scratch_database(Settings.from_env()) as settings:
        started = time.perf_counter()
        length = seed(settings, args.sagas)
        seeded_s = time.perf_counter() - started
        env = {
            "SAGA_DATABASE_URL": settings.database_url,
            "SAGA_OWNER_DATABASE_URL": settings.owner_database_url,
            "SAGA_SAGAS": "sagas.order_fulfilment:OrderFulfilment",
        }
        middle = FIRST_START + timedelta(milliseconds=args.sagas // 2, seconds=8)
        halfway = FIRST_START + timedelta(milliseconds=args.sagas // 2, seconds=length)
        cursor = f"{halfway.isoformat()},s-0000001"
        cases = {
            "list": ["saga", "list"],
            "list --after": ["saga", "list", "--after", cursor],
            "list --at": ["saga", "list", "--at", middle.isoformat()],
            "list --at (all)": [
                "saga", "list", "--at", middle.isoformat(), "--status", "cancelled",
            ],
            "list --at --until": [
                "saga", "list", "--at", middle.isoformat(), "--until", FIRST_START.isoformat(),
            ],
            "stuck": ["saga", "stuck", "--older-than", "10m"],
        }  # fmt: skip
        figures = {}
        for name, argv in cases.items():
            rounds = 1 if name == "list --at (all)" else args.rounds
            seconds, rows = timed(env, argv, rounds)
            figures[name] = {"seconds": round(seconds, 3), "rows": rows}
        # Saga n has its events at n ms + 1 s, 2 s, ...: by `middle` about 8 of each were
        # recorded.
        folded = args.sagas * 8
        figures["list --at (all)"]["events_per_s"] = round(
            folded / figures["list --at (all)"]["seconds"]
        )
    report: dict[str, object] = {
        "sagas": args.sagas,
        "events": args.sagas * length,
        "seed_s": round(seeded_s, 1),
    }
    report["figures"] = figures
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.sagas:,} sagas, {args.sagas * length:,} events (seeded in {seeded_s:.0f} s)")
    for name, figure in figures.items():
        extra = f", {figure['events_per_s']:,} events/s" if "events_per_s" in figure else ""
        print(f"  {name:<18} {figure['seconds'] * 1000:8.0f} ms  {figure['rows']} rows{extra}")


if __name__ == "__main__":
    main()
