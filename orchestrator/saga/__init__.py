"""Saga definitions and the pure decider.

Authors use ``Saga``, ``step``, ``parallel`` and ``RetryPolicy``; the worker uses
``SagaRegistry``, ``decide``, ``evolve``, ``replay`` and the events in ``orchestrator.saga.events``.
"""

from orchestrator.saga import events
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
from orchestrator.saga._definition import Saga, SagaDefinition, SagaDefinitionError, StepDef
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
from orchestrator.saga._state import TERMINAL, SagaInstance, SagaStatus, StepState, StepStatus
from orchestrator.saga._steps import Parallel, Step, parallel, step
from orchestrator.saga._time import iso_instant

__all__ = [
    "CONTROL_MESSAGES",
    "NO_RETRY",
    "TERMINAL",
    "CancelSaga",
    "CommandRefused",
    "Decision",
    "DecisionContext",
    "Divergence",
    "Envelope",
    "MessageDeadLettered",
    "MessageRedriven",
    "MissingVersionError",
    "Parallel",
    "RegistryError",
    "ReplayError",
    "ReplayReport",
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
    "StepState",
    "StepStatus",
    "TimerFired",
    "check_histories",
    "check_history",
    "command_message_id",
    "decide",
    "dump_history",
    "events",
    "evolve",
    "iso_instant",
    "load_history",
    "parallel",
    "replay",
    "saga_id_for",
    "step",
    "step_key_for",
    "timer_id_for",
    "timer_message_id",
]
