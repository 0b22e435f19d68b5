"""What tracing costs: the saga benchmark (bench_sagas) with tracing off, exporting every saga
to Jaeger (100% sampling), and at the default sampler (10% of sagas), back to back and
interleaved, so the machine's drift falls on all three alike.

    python -m load_tests.bench_tracing [--rounds 3] [--sagas 5000]
        [--otlp-endpoint http://127.0.0.1:4318]

The OTLP endpoint is the local Jaeger `make up` runs. Prints the median completed sagas/s of
each mode and its cost against tracing off; writes load_tests/results/bench_tracing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TRACING_PREFIX = "OTEL_"


def modes(endpoint: str) -> dict[str, dict[str, str]]:
    return {
        "off": {},
        "100% sampled": {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        },
        "default sampler": {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
    }


def run_once(extra: dict[str, str], sagas: int) -> float:
    # The benchmark's own process and every child it starts read tracing from here.
    env = {k: v for k, v in os.environ.items() if not k.startswith(TRACING_PREFIX)} | extra
    subprocess.run(
        [
            sys.executable,
            "-m",
            "load_tests.bench_sagas",
            "--sagas",
            str(sagas),
            "--memory-sagas",
            "0",
            "--latency-seconds",
            "3",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads((RESULTS / "bench_sagas.json").read_text())
    return float(result["throughput_sagas_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sagas", type=int, default=5000)
    parser.add_argument("--otlp-endpoint", default="http://127.0.0.1:4318")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {name: [] for name in modes(args.otlp_endpoint)}
    for round_number in range(1, args.rounds + 1):
        for name, extra in modes(args.otlp_endpoint).items():
            rate = run_once(extra, args.sagas)
            runs[name].append(rate)
            print(f"round {round_number}: {name}: {rate:.0f} sagas/s", flush=True)
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    off = medians["off"]
    for name, median in medians.items():
        cost = "" if name == "off" else f", {1 - median / off:.1%} fewer than with tracing off"
        print(f"{name}: median {median:.0f} sagas/s over {len(runs[name])} runs{cost}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_tracing.json").write_text(
        json.dumps(
            {"when": datetime.now(UTC).isoformat(), "runs": runs, "medians": medians}, indent=2
        )
    )


if __name__ == "__main__":
    main()
