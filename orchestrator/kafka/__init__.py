"""The Kafka layer shared by the worker, the participant SDK and sagactl: the clients
(confluent-kafka's, or an in-memory broker's for `memory://` bootstraps), client configuration
from Settings, the consumed-record type, consuming and storing offsets, acknowledged publishing,
dead-letter publishing and topic creation. Nothing here knows about sagas."""

from orchestrator.kafka._clients import MEMORY_SCHEME, AdminClient, Consumer, Producer
from orchestrator.kafka._config import (
    admin_config,
    consumer_config,
    producer_config,
    reader_config,
)
from orchestrator.kafka._dead_letters import (
    DeadLetter,
    DeadLetterError,
    DeadLetterPublisher,
    dead_letter_headers,
)
from orchestrator.kafka._delivery import DeliveryTracker, PublishError
from orchestrator.kafka._memory import MemoryBroker
from orchestrator.kafka._record import (
    ConsumedRecord,
    Headers,
    consume_batch,
    records_of,
    store_offsets,
)
from orchestrator.kafka._topics import (
    DEAD_LETTER_SUFFIX,
    TopicProblem,
    TopicSetupError,
    TopicSpec,
    dead_letter_topic,
    ensure_topics,
    with_dead_letters,
)

__all__ = [
    "DEAD_LETTER_SUFFIX",
    "MEMORY_SCHEME",
    "AdminClient",
    "ConsumedRecord",
    "Consumer",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterPublisher",
    "DeliveryTracker",
    "Headers",
    "MemoryBroker",
    "Producer",
    "PublishError",
    "TopicProblem",
    "TopicSetupError",
    "TopicSpec",
    "admin_config",
    "consume_batch",
    "consumer_config",
    "dead_letter_headers",
    "dead_letter_topic",
    "ensure_topics",
    "producer_config",
    "reader_config",
    "records_of",
    "store_offsets",
    "with_dead_letters",
]
