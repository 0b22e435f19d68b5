"""`sagactl worker` and `sagactl participant`: the long-running processes."""

from __future__ import annotations

import threading

import click
from opentelemetry.trace import Tracer

from orchestrator.cli._gc import tune_gc
from orchestrator.cli._reach import Needs, requires
from orchestrator.cli._signals import stop_on_signals
from orchestrator.cli._types import FiniteFloatRange
from orchestrator.config import Settings
from orchestrator.observability import configure_logging, configure_tracing, tracer_of
from orchestrator.participant import PostgresInbox
from orchestrator.projections import PostgresProjector
from orchestrator.runtime import App, Worker, load_sagas
from orchestrator.saga import SagaRegistry
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_services import EFFECTS_DDL, SERVICES, Behaviour, order_service


@click.command()
@requires(Needs.DATABASE, Needs.KAFKA, Needs.REGISTRY)
def worker() -> None:
    """Run the orchestrator worker until SIGTERM (finishes its batch, commits, exits 0)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("saga-worker")
    app = App.from_settings(settings)
    stop = stop_on_signals()
    store = app.event_store()
    checkpoints = app.checkpoints()
    projector = PostgresProjector(settings.database_url, registry=app.registry)
    server = app.serve_metrics()
    tune_gc(settings.gc_gen0_threshold)
    try:
        Worker(
            settings,
            app.registry,
            store=store,
            checkpoints=checkpoints,
            codec=app.codec,
            metrics=app.metrics(),
            health=app.health,
            projector_poll=projector.run_once if settings.worker_projector else None,
        ).run(stop)
    finally:
        projector.close()
        checkpoints.close()
        store.close()
        if server is not None:
            server.close()  # type: ignore[attr-defined]


@click.command()
@requires(Needs.DATABASE)
def projector() -> None:
    """Keep the projections (saga_instances, timers) up to date until SIGTERM.

    Run it beside workers started with SAGA_WORKER_PROJECTOR=false; several projectors take
    turns safely (the checkpoint row is locked per page)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("saga-projector")
    stop = stop_on_signals()
    tune_gc(settings.gc_gen0_threshold)
    registry = SagaRegistry(load_sagas(settings.sagas))
    with PostgresProjector(settings.database_url, registry=registry) as running:
        running.run(stop, idle_interval=0.01)


@click.command()
@click.argument("services", nargs=-1, required=True, type=click.Choice(SERVICES))
@click.option(
    "--failure-rate",
    default=0.0,
    show_default=True,
    type=FiniteFloatRange(0, 1),
    help="Fraction answered 'no'.",
)
@click.option(
    "--silence-rate",
    default=0.0,
    show_default=True,
    type=FiniteFloatRange(0, 1),
    help="Fraction never answered.",
)
@click.option(
    "--seed", default=7, show_default=True, help="Makes the simulated outcomes repeatable."
)
# The codec's built-in registry lives in SAGA_DATABASE_URL; the inbox in the participant's.
@requires(Needs.DATABASE, Needs.PARTICIPANT_DATABASE, Needs.KAFKA, Needs.REGISTRY)
def participant(
    services: tuple[str, ...], failure_rate: float, silence_rate: float, seed: int
) -> None:
    """Run simulated order services (credit, inventory, shipping) until SIGTERM."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = App.from_settings(settings)
    stop = stop_on_signals()
    behaviour = Behaviour(failure_rate=failure_rate, silence_rate=silence_rate, seed=seed)
    # The services serve the order saga SAGA_SAGAS names (a variant with its own topics, in
    # tests and benchmarks), not necessarily the stock OrderFulfilment.
    orders = [
        d.saga_class for d in app.registry.definitions if issubclass(d.saga_class, OrderFulfilment)
    ]
    if not orders:
        raise click.UsageError("SAGA_SAGAS names no order-fulfilment saga for these services")
    inboxes = [PostgresInbox(settings.participant_database_url, consumer=name) for name in services]
    # One process, several services: each is a service of its own in traces.
    tracers = {name: _service_tracer(name, alone=len(services) == 1) for name in services}
    _create_effects_table(settings.participant_database_url)
    threads = [
        threading.Thread(
            target=order_service(
                name,
                settings=settings,
                codec=app.codec,
                inbox=inbox,
                behaviour=behaviour,
                saga=orders[0],
                tracer=tracers[name],
            ).run,
            args=(stop,),
            name=f"participant-{name}",
        )
        for name, inbox in zip(services, inboxes, strict=True)
    ]
    tune_gc(settings.gc_gen0_threshold)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for inbox in inboxes:
        inbox.close()


def _service_tracer(service: str, *, alone: bool) -> Tracer:
    """`participant-<service>`; OTEL_SERVICE_NAME renames it only in a process running one
    service (three services under one name would be one service in the trace)."""
    return tracer_of(configure_tracing(f"participant-{service}", exact_name=not alone))


def _create_effects_table(conninfo: str) -> None:
    import psycopg  # noqa: PLC0415 - only this command needs a direct connection

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(EFFECTS_DDL)
