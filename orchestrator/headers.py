"""Kafka header names carried by every orchestrator and participant message.

These names are part of the wire contract with services in other languages: never rename one.
Values are UTF-8 strings.
"""

from __future__ import annotations

from typing import Final

MESSAGE_ID: Final = "saga_message_id"  # stable per logical message; participants dedupe on it
SAGA_ID: Final = "saga_id"
SAGA_TYPE: Final = "saga_type"
STEP: Final = "saga_step"
ATTEMPT: Final = "saga_attempt"  # the step attempt a command belongs to; replies echo it
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
