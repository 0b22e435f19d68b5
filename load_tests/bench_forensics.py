"""Forensics benchmark: `sagactl saga show|state|diff` on a saga of 1,000 events.

The saga is an order whose credit check keeps being rejected and an operator keeps retrying
(OperatorAction, StepRetried, CommandIssued, StepFailed, SagaFailed: five events per round),
decided by the real decider (the test kit) and appended through the PostgreSQL event store into
a scratch database of its own.

Figures per command, medians over rounds:
  work     what the command does once it runs: read the stream from PostgreSQL (an open
           store), decode it, fold or diff it, render the text (the very functions the
           command calls). Issue 13's target: < 50 ms. Also given in this process's CPU time,
           which on a shared box leaves out the waits for a core.
  command  the whole command in-process through click, interpreter start excluded: adds
           settings, the saga registry, and two new PostgreSQL sessions (sagactl's reach
           check, then the store's pool), each a SCRAM handshake of ~10 ms here.

    .venv/bin/python -m load_tests.bench_forensics [--rounds 20] [--json]
    (SAGA_DATABASE_URL, SAGA_OWNER_DATABASE_URL, SAGA_SUPERUSER_DATABASE_URL as for the tests)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from click.testing import CliRunner

from event_store import RecordedEvent
from event_store.postgres import PostgresEventStore
from load_tests._harness import scratch_database
from orchestrator.cli import sagactl
from orchestrator.cli._forensics import Point, diff_text, show_text, state_text
from orchestrator.config import Settings
from orchestrator.saga import SagaRegistry, saga_id_for
from orchestrator.saga.events import SagaEvent
from orchestrator.testing import SagaTestKit
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import CreditRejected, PlaceOrder

EVENTS = 1000
TARGET_MS = 50.0
SAGAS = "sagas.order_fulfilment:OrderFulfilment"
ORDER = "o-bench-forensics"


def retried_saga(events: int) -> list[SagaEvent]:
    """The first `events` events of an order retried by an operator again and again."""
    order = ORDER
    run = SagaTestKit(OrderFulfilment).start(
        PlaceOrder(
            order_id=order, customer_id="c", sku="s", quantity=1, amount_cents=100, address="a"
        )
    )
    # The kit re-folds the whole history after every delivery (its replay check), so the
    # history is built on a fresh run from the last one's events every hundred rounds.
    round_ = 0
    while len(run.history) < events:
        run.when(CreditRejected(order_id=order, reason=f"over limit, round {round_}"))
        run.retry("reserve_credit", actor="sre-bench", reason=f"round {round_}")
        round_ += 1
        if round_ % 100 == 0:
            run = SagaTestKit(OrderFulfilment).given(*run.history)
    return run.history[:events]


@dataclass
class Figures:
    events: int
    rounds: int
    read_ms: float  # read_stream of the 1,000 events alone, part of every figure below
    # Median milliseconds of each command's work (read, decode, fold, render): the target.
    show_table_work_ms: float
    show_html_work_ms: float
    show_mermaid_work_ms: float
    state_work_ms: float
    diff_work_ms: float
    # The best round of the same: the work without the interference of a shared box.
    show_table_work_best_ms: float
    show_html_work_best_ms: float
    show_mermaid_work_best_ms: float
    state_work_best_ms: float
    diff_work_best_ms: float
    # The same work in this process's CPU time (the database's share is not in it).
    show_table_work_cpu_ms: float
    show_html_work_cpu_ms: float
    show_mermaid_work_cpu_ms: float
    state_work_cpu_ms: float
    diff_work_cpu_ms: float
    # Median milliseconds of the whole command in-process through click.
    show_table_command_ms: float
    show_html_command_ms: float
    show_mermaid_command_ms: float
    state_command_ms: float
    diff_command_ms: float


def timed(
    work: Callable[[], object], rounds: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Milliseconds per call, by wall clock, or by this process's CPU (`time.process_time`):
    on a shared box the CPU figure is the work itself, without the waits for a core."""
    work()  # warm: imports, the first connection's authentication, caches
    samples = []
    for _ in range(rounds):
        started = clock()
        work()
        samples.append((clock() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    events = retried_saga(EVENTS)
    saga_id = saga_id_for(OrderFulfilment.definition.name, ORDER)
    with scratch_database(Settings.from_env()) as settings:
        with PostgresEventStore(settings.database_url) as store:
            store.append(
                saga_id,
                OrderFulfilment.definition.name,
                0,
                [e.to_new_event({"causation_id": f"m-{i}"}) for i, e in enumerate(events)],
            )
            assert store.stream_version(saga_id) == EVENTS

        runner = CliRunner()
        env = {"SAGA_DATABASE_URL": settings.database_url, "SAGA_SAGAS": SAGAS}

        def command(*argv: str) -> Callable[[], object]:
            def run() -> object:
                result = runner.invoke(sagactl, ["saga", *argv], env=env)
                assert result.exit_code == 0, (argv, result.output, result.exception)
                return result

            return run

        middle = EVENTS // 2
        commands = {
            "show_table": command("show", saga_id),
            "show_html": command("show", saga_id, "--format", "html"),
            "show_mermaid": command("show", saga_id, "--format", "mermaid"),
            "state": command("state", saga_id, "--at-version", str(middle)),
            "diff": command("diff", saga_id, "--from", "1", "--to", str(EVENTS)),
        }
        registry = SagaRegistry([OrderFulfilment])
        with PostgresEventStore(settings.database_url) as store:

            def read() -> list[RecordedEvent]:
                return store.read_stream(saga_id)

            work: dict[str, Callable[[], object]] = {
                "show_table": lambda: show_text(read(), "table", "table"),
                "show_html": lambda: show_text(read(), "html", "table"),
                "show_mermaid": lambda: show_text(read(), "mermaid", "table"),
                "state": lambda: state_text(registry, read(), middle, None, "table"),
                "diff": lambda: diff_text(registry, read(), Point(1, None), None, "table"),
            }
            read_ms = statistics.median(timed(read, args.rounds))
            work_samples = {name: timed(f, args.rounds) for name, f in work.items()}
            work_ms = {name: statistics.median(s) for name, s in work_samples.items()}
            work_best_ms = {name: min(s) for name, s in work_samples.items()}
            work_cpu_ms = {
                name: statistics.median(timed(f, args.rounds, clock=time.process_time))
                for name, f in work.items()
            }
        command_ms = {
            name: statistics.median(timed(f, args.rounds)) for name, f in commands.items()
        }
    figures = Figures(
        events=EVENTS,
        rounds=args.rounds,
        read_ms=round(read_ms, 1),
        **{f"{name}_work_ms": round(ms, 1) for name, ms in work_ms.items()},
        **{f"{name}_work_best_ms": round(ms, 1) for name, ms in work_best_ms.items()},
        **{f"{name}_work_cpu_ms": round(ms, 1) for name, ms in work_cpu_ms.items()},
        **{f"{name}_command_ms": round(ms, 1) for name, ms in command_ms.items()},
    )
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
        return
    print(
        f"saga of {EVENTS} events, median of {args.rounds} rounds; "
        f"target: work < {TARGET_MS:.0f} ms"
    )
    print(f"  read_stream alone {read_ms:6.1f} ms (part of every work figure)")
    for name in work:
        verdict = "ok" if work_ms[name] < TARGET_MS else "OVER TARGET"
        print(
            f"  {name:<13} work {work_ms[name]:6.1f} ms (best {work_best_ms[name]:5.1f}, "
            f"CPU {work_cpu_ms[name]:5.1f}) {verdict:<11}  whole command {command_ms[name]:6.1f} ms"
        )


if __name__ == "__main__":
    main()
