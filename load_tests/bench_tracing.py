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


# A shared machine may restart a server under a run (a chaos run next door): such a run is
# simply repeated, a few times at most.
ATTEMPTS = 3


def run_once(extra: dict[str, str], sagas: int) -> tuple[float, float]:
    """(completed sagas/s, CPU seconds per 1,000 sagas of the worker and the services)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _run(extra, sagas)
        except subprocess.CalledProcessError:
            if attempt == ATTEMPTS:
                raise
            print(f"  run failed; repeating it ({attempt}/{ATTEMPTS})", flush=True)
    raise AssertionError("unreachable")


def _run(extra: dict[str, str], sagas: int) -> tuple[float, float]:
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
    cpu = result["cpu_seconds_per_1000_sagas"]
    # CPU is the steadier figure on a shared machine: throughput moves with the neighbours.
    return float(result["throughput_sagas_per_s"]), float(cpu["worker"] + cpu["participants"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sagas", type=int, default=5000)
    parser.add_argument("--otlp-endpoint", default="http://127.0.0.1:4318")
    args = parser.parse_args()
    runs: dict[str, list[float]] = {name: [] for name in modes(args.otlp_endpoint)}
    cpu: dict[str, list[float]] = {name: [] for name in modes(args.otlp_endpoint)}
    for round_number in range(1, args.rounds + 1):
        for name, extra in modes(args.otlp_endpoint).items():
            rate, seconds = run_once(extra, args.sagas)
            runs[name].append(rate)
            cpu[name].append(seconds)
            print(
                f"round {round_number}: {name}: {rate:.0f} sagas/s, "
                f"worker + services {seconds:.2f} CPU s per 1000 sagas",
                flush=True,
            )
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    off, off_cpu = medians["off"], cpu_medians["off"]
    for name, median in medians.items():
        cost = (
            ""
            if name == "off"
            else f" ({1 - median / off:.0%} fewer, {cpu_medians[name] / off_cpu - 1:+.0%} CPU)"
        )
        print(
            f"{name}: median {median:.0f} sagas/s, {cpu_medians[name]:.2f} CPU s per 1000 "
            f"sagas over {len(runs[name])} runs{cost}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_tracing.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "runs": runs,
                "cpu_seconds_per_1000_sagas": cpu,
                "medians": medians,
                "cpu_medians": cpu_medians,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
