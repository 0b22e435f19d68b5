"""The leader's duties, on the one worker of a consumer group that holds the lease: the outbox
relay in one thread; the projector, the timer poller, the outbox-backlog gauge and the archive
anchors in a second, so a slow projection page never delays the publication of commands.

Every outside dependency is a port (`LeaderPorts`): PostgreSQL adapters in production, the
in-memory twins in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from opentelemetry.trace import Tracer

from event_store import CheckpointStore, EventStore
from orchestrator.archive import PeriodicAnchor
from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import Producer, producer_config
from orchestrator.observability import Metrics, active_tracer
from orchestrator.outage import is_outage
from orchestrator.runtime._memory import ReadAllCommandLog
from orchestrator.runtime._outbox import OutboxRelay, relay_subscription
from orchestrator.runtime._ports import CommandLog, LeaderLease, OutboxBacklog, Timers
from orchestrator.runtime._postgres import (
    PostgresLeaderLease,
    PostgresOutboxBacklog,
    PostgresTimers,
)
from orchestrator.runtime._saga_gauges import SagaGaugeProbe
from orchestrator.runtime._timer_poller import TimerPoller
from orchestrator.saga import SagaRegistry

log = structlog.get_logger(__name__)

# In flight and stuck are counts over the projection's indexes: cheap, but not every loop.
SAGA_GAUGES_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class LeaderPorts:
    lease: LeaderLease
    command_log: CommandLog
    checkpoints: CheckpointStore
    timers: Timers
    backlog: OutboxBacklog
    # In flight and stuck per saga type, from the projection (None: not measured).
    saga_gauges: SagaGaugeProbe | None = None

    @classmethod
    def postgres(
        cls,
        settings: Settings,
        store: EventStore,
        checkpoints: CheckpointStore,
        *,
        metrics: Metrics | None = None,
        registry: SagaRegistry | None = None,
    ) -> LeaderPorts:
        """The PostgreSQL adapters on `settings.database_url`."""
        url, group = settings.database_url, settings.consumer_group
        return cls(
            lease=PostgresLeaderLease(url, group),
            command_log=store if isinstance(store, CommandLog) else ReadAllCommandLog(store),
            checkpoints=checkpoints,
            timers=PostgresTimers(url, store),
            backlog=PostgresOutboxBacklog(url, relay_subscription(group)),
            # The saga gauges need the metrics to set and the saga types to report.
            saga_gauges=None
            if metrics is None or registry is None
            else SagaGaugeProbe(
                url,
                metrics,
                {d.name for d in registry.definitions},
                timedelta(seconds=settings.stuck_after_s),
            ),
        )


class LeaderDuties:
    def __init__(
        self,
        settings: Settings,
        registry: SagaRegistry,
        ports: LeaderPorts,
        *,
        codec: Codec,
        metrics: Metrics,
        projector_poll: Callable[[], int] | None,
        anchors: PeriodicAnchor | None,
        clock: Callable[[], datetime],
        client_id: str,
        tracer: Tracer | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._ports = ports
        self._codec = codec
        self._metrics = metrics
        self._projector_poll = projector_poll
        self._anchors = anchors
        self._clock = clock
        self._client_id = client_id
        self._saga_types = {d.name for d in registry.definitions}
        self._tracer = active_tracer(tracer)  # the relay's and the timers' sends; None: off
        self.fatal: BaseException | None = None

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self._guarded, args=(self._relay_loop, stop), name="saga-housekeeping"
        )
        thread.daemon = True
        thread.start()
        return thread

    def _guarded(self, target: Callable[..., None], stop: threading.Event, *args: object) -> None:
        """Run a background loop; if it dies of a bug, stop the worker (non-zero exit, the
        orchestrator restarts it) instead of leaving a process that consumes but never
        publishes."""
        try:
            target(stop, *args)
        except BaseException as exc:
            log.exception("background thread failed; stopping the worker")
            self.fatal = exc
            stop.set()

    def _relay_loop(self, stop: threading.Event) -> None:
        """Leader only: the outbox relay here; the other duties in `_upkeep`."""
        ports = self._ports
        producer = Producer(producer_config(self._settings, client_id=f"{self._client_id}-outbox"))
        leading = threading.Event()
        upkeep = threading.Thread(
            target=self._guarded,
            args=(self._upkeep, stop, leading, producer),
            name="saga-upkeep",
            daemon=True,
        )
        upkeep.start()
        relay: OutboxRelay | None = None
        try:
            while not stop.is_set():
                try:
                    if not ports.lease.holds():
                        leading.clear()
                        relay = None
                        stop.wait(1.0)
                        continue
                    if relay is None:
                        # Newly leading: start from the stored checkpoint, not from where this
                        # process stopped when it last led (another leader moved on since).
                        relay = OutboxRelay(
                            ports.command_log,
                            ports.checkpoints,
                            producer,
                            self._codec,
                            name=relay_subscription(self._settings.consumer_group),
                            saga_types=self._saga_types,
                            metrics=self._metrics,
                            tracer=self._tracer,
                        )
                    leading.set()
                    published = relay.poll()
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    log.warning("outbox relay failed; retrying", error=repr(exc))
                    relay = None
                    stop.wait(1.0)
                    continue
                if not published:
                    stop.wait(0.01)  # idle: look at the log again shortly (command latency)
        finally:
            leading.clear()
            upkeep.join(timeout=10)
            producer.flush(30)
            ports.lease.release()

    def _upkeep(self, stop: threading.Event, leading: threading.Event, producer: Producer) -> None:
        timers = TimerPoller(
            self._ports.timers, producer, self._codec, self._registry, tracer=self._tracer
        )
        backlog = self._ports.backlog
        gauges = self._ports.saga_gauges
        next_timer_poll = 0.0
        next_probe = 0.0
        next_gauges = 0.0
        try:
            while not stop.is_set():
                if not leading.wait(0.5):
                    # Only the leader measures the backlog; a stale figure left by a former
                    # leader would keep SagaOutboxStalled firing (alerts take the max).
                    self._metrics.outbox_backlog.set(0)
                    self._metrics.clear_saga_gauges()
                    continue
                try:
                    projected = self._projector_poll() if self._projector_poll else 0
                    fired = 0
                    if time.monotonic() >= next_timer_poll:
                        fired = timers.poll(self._clock())
                        self._metrics.timers_fired.inc(fired)
                        next_timer_poll = time.monotonic() + (0.0 if fired else 0.2)
                    if time.monotonic() >= next_probe:
                        self._metrics.outbox_backlog.set(backlog.backlog())
                        next_probe = time.monotonic() + 1.0
                    if gauges is not None and time.monotonic() >= next_gauges:
                        gauges.measure(self._clock())
                        next_gauges = time.monotonic() + SAGA_GAUGES_EVERY_S
                    if self._anchors is not None:
                        self._anchors.poll()  # logs its own failures; never stops the loop
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    log.warning("projector or timers failed; retrying", error=repr(exc))
                    stop.wait(1.0)
                    continue
                if not projected and not fired:
                    stop.wait(0.01)
        finally:
            timers.close()
            backlog.close()
            if gauges is not None:
                gauges.close()
