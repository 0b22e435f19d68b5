"""saga-orchestrator: event-sourced sagas over Kafka.

A saga author has one door, `orchestrator.saga`: messages (`Message`, whose Avro schema is
generated from the class), the saga class (`Saga`, `step`, `compensation`, `parallel`,
`either`, `RetryPolicy`, `Topics`), and tests with `orchestrator.testing`. The runtime
(`orchestrator.runtime`), the participant SDK (`orchestrator.participant`) and the codec
(`orchestrator.codec`) are imported from their own packages.
"""

__all__: list[str] = []
