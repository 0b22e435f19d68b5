"""Saga definitions and the pure decider: the saga author's one door.

Authors import ``Saga``, ``Message``, ``step``, ``compensation``, ``parallel``, ``either``,
``RetryPolicy`` and ``Topics`` from here; the worker uses ``SagaRegistry``, ``decide``,
``evolve``, ``replay`` and the events in ``orchestrator.saga.events``.
"""

from orchestrator.messages import Long, Message
from orchestrator.saga import events
from orchestrator.saga._avsc import generated_schemas, stale_schemas, write_schemas
from orchestrator.saga._control import (
    CONTROL_MESSAGES,
    CancelSaga,
    CommandRefused,
    MessageDeadLettered,
    MessageRedriven,
    ResolveSaga,
    RetryStep,
    TimerFired,
)
from orchestrator.saga._decider import Decision, decide
from orchestrator.saga._definition import SagaDefinition, SagaDefinitionError, StepDef
from orchestrator.saga._envelope import DecisionContext, Envelope
from orchestrator.saga._evolve import ReplayError, evolve, replay
from orchestrator.saga._ids import (
    command_message_id,
    saga_id_for,
    step_key_for,
    timer_id_for,
    timer_message_id,
)
from orchestrator.saga._policy import NO_RETRY, RetryPolicy
from orchestrator.saga._registry import MissingVersionError, RegistryError, SagaRegistry
from orchestrator.saga._replay_check import (
    Divergence,
    ReplayReport,
    check_histories,
    check_history,
    dump_history,
    load_history,
)
from orchestrator.saga._saga import Saga
from orchestrator.saga._state import TERMINAL, SagaInstance, SagaStatus, StepState, StepStatus
from orchestrator.saga._steps import (
    Compensation,
    Parallel,
    Replies,
    Step,
    StepOf,
    Steps,
    compensation,
    either,
    parallel,
    step,
)
from orchestrator.saga._time import iso_instant
from orchestrator.saga._topics import Topics

__all__ = [
    "CONTROL_MESSAGES",
    "NO_RETRY",
    "TERMINAL",
    "CancelSaga",
    "CommandRefused",
    "Compensation",
    "Decision",
    "DecisionContext",
    "Divergence",
    "Envelope",
    "Long",
    "Message",
    "MessageDeadLettered",
    "MessageRedriven",
    "MissingVersionError",
    "Parallel",
    "RegistryError",
    "ReplayError",
    "ReplayReport",
    "Replies",
    "ResolveSaga",
    "RetryPolicy",
    "RetryStep",
    "Saga",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaInstance",
    "SagaRegistry",
    "SagaStatus",
    "Step",
    "StepDef",
    "StepOf",
    "StepState",
    "StepStatus",
    "Steps",
    "TimerFired",
    "Topics",
    "check_histories",
    "check_history",
    "command_message_id",
    "compensation",
    "decide",
    "dump_history",
    "either",
    "events",
    "evolve",
    "generated_schemas",
    "iso_instant",
    "load_history",
    "parallel",
    "replay",
    "saga_id_for",
    "stale_schemas",
    "step",
    "step_key_for",
    "timer_id_for",
    "timer_message_id",
    "write_schemas",
]
