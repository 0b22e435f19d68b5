"""Kafka header names carried by every orchestrator and participant message.

These names are part of the wire contract with services in other languages: never rename one.
Values are UTF-8 strings.
"""

from __future__ import annotations

from typing import Final

# Set by whoever sends a message, unique per message (per ATTEMPT of a step for commands): the
# worker dedupes replies and starts on it, tracing follows it. A reply's id is
# reply_message_id(command's id).
MESSAGE_ID: Final = "saga_message_id"
SAGA_ID: Final = "saga_id"
SAGA_TYPE: Final = "saga_type"
STEP: Final = "saga_step"
ATTEMPT: Final = "saga_attempt"  # the step attempt a command belongs to; replies echo it
# Set by the orchestrator on every command; replies need not echo it. The same for every attempt
# of one intent of one step of one saga, different for the step's compensation; a new intent
# (new key) starts only after a failure reply proved nothing happened, never after timeouts (see
# saga._ids.step_key_for). Commands of sagas written in event format 1 or 2 carry their
# saga_message_id here (deduplicated per attempt, as before format 3). A participant executes
# each step key at most once, atomically with its own writes, and answers every later command
# carrying that key with the reply it recorded, re-addressed to the asking command (its
# saga_attempt, causation_id = its saga_message_id, saga_message_id = reply_message_id(its
# saga_message_id)), so the worker takes it as the outcome of the attempt it waits for.
STEP_KEY: Final = "saga_step_key"
# Set by the orchestrator on every command: "execute" or "compensate"; replies need not echo
# it. A participant that has handled a compensation of (saga_id, saga_step) must not execute
# that step any more: it answers a late "execute" with saga.orchestrator.CommandRefused.
COMMAND_KIND: Final = "saga_command_kind"
COMMAND_KIND_EXECUTE: Final = "execute"
COMMAND_KIND_COMPENSATE: Final = "compensate"
REPLY_TOPIC: Final = "saga_reply_topic"  # where a participant sends its reply
CORRELATION_ID: Final = "correlation_id"
CAUSATION_ID: Final = "causation_id"
TRACEPARENT: Final = "traceparent"  # W3C trace context
TRACESTATE: Final = "tracestate"
DELIVERY_ATTEMPT: Final = "saga_delivery_attempt"  # incremented by a dead-letter redrive

# Dead-letter headers, named as Kafka Connect and Spring Kafka name theirs.
DLT_ORIGINAL_TOPIC: Final = "dlt.original.topic"
DLT_ORIGINAL_PARTITION: Final = "dlt.original.partition"
DLT_ORIGINAL_OFFSET: Final = "dlt.original.offset"
DLT_ORIGINAL_TIMESTAMP: Final = "dlt.original.timestamp"
DLT_CONSUMER_GROUP: Final = "dlt.original.consumer.group"
DLT_EXCEPTION_CLASS: Final = "dlt.exception.class"
DLT_EXCEPTION_MESSAGE: Final = "dlt.exception.message"
DLT_EXCEPTION_STACKTRACE: Final = "dlt.exception.stacktrace"
DLT_ATTEMPTS: Final = "dlt.attempts"
