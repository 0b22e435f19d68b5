"""saga-orchestrator: event-sourced sagas over Kafka.

What a saga author imports: define messages (`Message` + an .avsc under schemas/), a saga
class (`Saga`, `step`, `parallel`, `RetryPolicy`), and test it with `orchestrator.testing`.
The runtime (`orchestrator.runtime`), the participant SDK (`orchestrator.participant`) and the
codec (`orchestrator.codec`) are imported from their own packages.
"""

from orchestrator.messages import Message
from orchestrator.saga import (
    Parallel,
    RetryPolicy,
    Saga,
    SagaDefinitionError,
    SagaRegistry,
    SagaStatus,
    Step,
    parallel,
    step,
)

__all__ = [
    "Message",
    "Parallel",
    "RetryPolicy",
    "Saga",
    "SagaDefinitionError",
    "SagaRegistry",
    "SagaStatus",
    "Step",
    "parallel",
    "step",
]
