"""A whole deployment in one process: the real worker (its consume loop, relay, timer poller)
and real participants, on a `Stack` (in memory, or PostgreSQL and Kafka), on a virtual clock.

    with SagaWorld(memory_stack(clock), [OrderFulfilment], clock) as world:
        world.add(order_service("credit", settings=world.settings, codec=world.codec, ...))
        world.start()
        saga_id = world.start_saga(OrderFulfilment, PlaceOrder(...))
        world.wait_for(saga_id, "completed")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType

from prometheus_client import CollectorRegistry

from orchestrator.codec import Codec
from orchestrator.config import Settings
from orchestrator.kafka import Producer, producer_config
from orchestrator.messages import Message
from orchestrator.observability import HealthState, Metrics
from orchestrator.participant import Participant, SagaStarter
from orchestrator.runtime import Worker
from orchestrator.saga import TERMINAL, Saga, SagaInstance, SagaRegistry
from orchestrator.world._clock import VirtualClock
from orchestrator.world._stack import Stack


class WorldError(AssertionError):
    """A component of the world crashed, or a saga did not get where it was expected to."""


class SagaWorld:
    def __init__(self, stack: Stack, sagas: Sequence[type[Saga]], clock: VirtualClock) -> None:
        self.stack = stack
        self.clock = clock
        self.registry = SagaRegistry(sagas)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._participants: list[Participant] = []
        self._starter: SagaStarter | None = None

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def codec(self) -> Codec:
        return self.stack.codec

    def add(self, participant: Participant) -> Participant:
        """Run `participant` when the world starts (its own consumer group per world)."""
        participant.group_id = f"{participant.group_id}-{self.settings.consumer_group}"
        self._participants.append(participant)
        return participant

    def start(self) -> None:
        worker = Worker(
            self.settings,
            self.registry,
            store=self.stack.store,
            checkpoints=self.stack.checkpoints,
            codec=self.codec,
            metrics=Metrics(CollectorRegistry()),
            health=HealthState(),
            projector_poll=self.stack.projector_poll,
            clock=self.clock.now,
            client_id=f"world-worker-{self.settings.consumer_group}",
            leader=self.stack.leader,
        )
        worker.ensure_topics()  # before the participants subscribe to the command topics
        self._spawn("worker", worker.run)
        for participant in self._participants:
            self._spawn(participant.group_id, participant.run)
        producer = Producer(producer_config(self.settings, client_id="world-starter"))
        self._starter = SagaStarter(producer, self.codec)

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        def run() -> None:
            try:
                target(self._stop)
            except BaseException as exc:  # noqa: BLE001 - reported by every later call
                self._errors.append(exc)
                self._stop.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def start_saga(self, saga: type[Saga], message: Message) -> str:
        if self._starter is None:
            raise WorldError("start() the world before starting sagas")
        return self._starter.start(saga, message)

    def advance(self, delta: timedelta) -> None:
        """Let `delta` of saga time pass (timeouts, retry delays): the timer poller sees it."""
        self.clock.advance(delta)

    def fire_timers_until(
        self, saga_id: str, status: str, *, max_timers: int = 50, within_s: float = 30.0
    ) -> SagaInstance:
        """Move the clock to the saga's next pending timer, wait until the saga has decided
        it, and again, until the saga has `status`: minutes of timeouts and backoff pass in as
        long as the decisions take."""
        for _ in range(max_timers):
            instance = self.wait_for(saga_id, lambda s: s.status == status or bool(s.timers))
            if instance.status == status:
                return instance
            timer = min(instance.timers.values(), key=lambda t: t.fire_at)
            if timer.fire_at > self.clock.now():
                self.advance(timer.fire_at - self.clock.now())
            fired = timer.timer_id

            def decided(saga: SagaInstance, fired: str = fired) -> bool:
                return fired not in saga.timers

            self.wait_for(saga_id, decided, within_s=within_s)
        raise WorldError(f"saga {saga_id} not {status} after {max_timers} timers")

    def saga(self, saga_id: str) -> SagaInstance | None:
        return self.registry.replay(self.stack.store.read_stream(saga_id))

    def wait_for(
        self,
        saga_id: str,
        status: str | Callable[[SagaInstance], bool],
        *,
        within_s: float = 30.0,
    ) -> SagaInstance:
        """The saga once it has `status` (or satisfies the predicate); fails at once if it
        ends in another terminal status or a component crashed."""
        wanted = status if callable(status) else (lambda s: s.status == status)
        deadline = time.monotonic() + within_s
        while True:
            self._raise_if_crashed()
            instance = self.saga(saga_id)
            if instance is not None:
                if wanted(instance):
                    return instance
                if instance.status in TERMINAL:
                    raise WorldError(f"saga {saga_id} ended {instance.status}, not {status}")
            if time.monotonic() > deadline:
                seen = instance.status if instance is not None else "not started"
                raise WorldError(f"saga {saga_id} is {seen} after {within_s:g}s, not {status}")
            time.sleep(0.002)

    def _raise_if_crashed(self) -> None:
        if self._errors:
            raise WorldError(f"a component crashed: {self._errors[0]!r}") from self._errors[0]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.stack.close()
        self._raise_if_crashed()

    def __enter__(self) -> SagaWorld:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
