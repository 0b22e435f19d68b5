"""An in-memory Kafka for one process: topics of partitions, consumer groups with committed
offsets, and clients with the confluent-kafka API the orchestrator uses (`memory://<name>`).

What it keeps of Kafka's contract, because the orchestrator's guarantees rest on it: per
partition order, a key always on the same partition, redelivery from the committed offset after
a consumer closes without storing, pause/resume/seek, delivery reports only from flush or poll.
What it leaves out: replication, transactions, the wire, more than one consumer per group
(the in-memory world runs one worker and one instance of each participant).
"""

from __future__ import annotations

import itertools
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, ClassVar

from confluent_kafka import OFFSET_BEGINNING, KafkaError, Message, TopicPartition
from confluent_kafka.admin._metadata import ClusterMetadata, PartitionMetadata, TopicMetadata

from orchestrator.kafka._clients import MEMORY_SCHEME, AdminClient, Consumer, Producer

Partition = tuple[str, int]
Delivery = Callable[[KafkaError | None, Message], None]
RebalanceCallback = Callable[[Any, list[TopicPartition]], None]


@dataclass(frozen=True, slots=True)
class _Stored:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class MemoryBroker:
    """The broker named in `memory://<name>`; made on first use, shared by every client."""

    _named: ClassVar[dict[str, MemoryBroker]] = {}
    _registry_lock: ClassVar = threading.Lock()

    def __init__(self, *, default_partitions: int = 1) -> None:
        self._default_partitions = default_partitions
        self._topics: dict[str, list[list[_Stored]]] = {}
        self._committed: dict[tuple[str, Partition], int] = {}
        self._members: dict[str, MemoryConsumer] = {}
        self.changed = threading.Condition()

    @classmethod
    def named(cls, name: str) -> MemoryBroker:
        with cls._registry_lock:
            return cls._named.setdefault(name, cls())

    @classmethod
    def of(cls, config: dict[str, Any]) -> MemoryBroker:
        return cls.named(str(config["bootstrap.servers"]).removeprefix(MEMORY_SCHEME))

    @classmethod
    def forget(cls, name: str) -> None:
        with cls._registry_lock:
            cls._named.pop(name, None)

    def create_topic(self, name: str, partitions: int | None = None) -> None:
        with self.changed:
            if name not in self._topics:
                count = partitions or self._default_partitions
                self._topics[name] = [[] for _ in range(count)]
                self.changed.notify_all()

    def topics(self) -> dict[str, int]:
        with self.changed:
            return {name: len(parts) for name, parts in self._topics.items()}

    def append(self, topic: str, partition: int, record: _Stored) -> int:
        with self.changed:
            if topic not in self._topics:
                self._topics[topic] = [[] for _ in range(self._default_partitions)]
            log = self._topics[topic][partition]
            log.append(record)
            self.changed.notify_all()
            return len(log) - 1

    def partition_for(self, topic: str, key: bytes | None, counter: Callable[[], int]) -> int:
        self.create_topic(topic)
        count = len(self._topics[topic])
        return (zlib.crc32(key) if key is not None else counter()) % count

    def read(self, partition: Partition, offset: int) -> _Stored | None:
        with self.changed:
            log = self._topics.get(partition[0], [])[partition[1]]
            return log[offset] if offset < len(log) else None

    def end_offset(self, partition: Partition) -> int:
        with self.changed:
            return len(self._topics.get(partition[0], [[]])[partition[1]])

    def committed(self, group: str, partition: Partition) -> int | None:
        with self.changed:
            return self._committed.get((group, partition))

    def commit(self, group: str, offsets: dict[Partition, int]) -> None:
        with self.changed:
            for partition, offset in offsets.items():
                self._committed[(group, partition)] = offset

    def join(self, group: str, member: MemoryConsumer) -> None:
        with self.changed:
            if self._members.setdefault(group, member) is not member:
                raise NotImplementedError(
                    f"the in-memory broker serves one consumer per group ({group})"
                )

    def leave(self, group: str, member: MemoryConsumer) -> None:
        with self.changed:
            if self._members.get(group) is member:
                del self._members[group]


class MemoryProducer(Producer):
    """Appends at once; delivery reports wait for `poll` or `flush`, as librdkafka's do."""

    def __init__(self, config: dict[str, Any], /, **kwargs: Any) -> None:
        self._broker = MemoryBroker.of(config)
        self._reports: list[tuple[Delivery, Message]] = []
        self._round_robin = itertools.count()

    def produce(  # type: ignore[override]  # noqa: PLR0917 - confluent's signature
        self,
        topic: str,
        value: str | bytes | None = None,
        key: str | bytes | None = None,
        partition: int = -1,
        callback: Delivery | None = None,
        on_delivery: Delivery | None = None,
        timestamp: int = 0,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        key_bytes = _bytes(key)
        if partition < 0:
            partition = self._broker.partition_for(topic, key_bytes, self._round_robin.__next__)
        stored = _Stored(
            key_bytes,
            _bytes(value),
            [(name, _bytes(v) or b"") for name, v in headers or []],
            timestamp or int(time.time() * 1000),
        )
        offset = self._broker.append(topic, partition, stored)
        report = on_delivery or callback
        if report is not None:
            self._reports.append((report, _message(topic, partition, offset, stored)))

    def poll(self, timeout: float = -1) -> int:
        reports, self._reports = self._reports, []
        for report, message in reports:
            report(None, message)
        return len(reports)

    def flush(self, timeout: float = -1) -> int:
        self.poll(0)
        return 0


def _message(topic: str, partition: int, offset: int, stored: _Stored) -> Message:
    return Message(
        topic=topic,
        partition=partition,
        offset=offset,
        key=stored.key,
        value=stored.value,
        headers=list(stored.headers),
        timestamp=(1, stored.timestamp_ms),
    )


@dataclass
class _Subscription:
    topics: list[str]
    on_assign: RebalanceCallback | None
    on_revoke: RebalanceCallback | None
    assigned: set[Partition] = field(default_factory=set)


class MemoryConsumer(Consumer):
    def __init__(self, config: dict[str, Any], /, **kwargs: Any) -> None:
        self._broker = MemoryBroker.of(config)
        self._group = str(config.get("group.id", ""))
        self._auto_commit = bool(config.get("enable.auto.commit", True))
        self._subscription: _Subscription | None = None
        self._positions: dict[Partition, int] = {}
        self._stored: dict[Partition, int] = {}
        self._paused: set[Partition] = set()
        self._next = itertools.count()

    def subscribe(
        self,
        topics: list[str],
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        self._broker.join(self._group, self)
        self._subscription = _Subscription(list(topics), on_assign, on_revoke)

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions[(tp.topic, tp.partition)] = 0 if tp.offset < 0 else tp.offset

    def _refresh(self) -> None:
        """Topics created since the last look join the assignment (cooperative: the
        partitions already held stay), starting from the group's committed offsets."""
        sub = self._subscription
        if sub is None:
            return
        existing = self._broker.topics()
        new = [
            (topic, p)
            for topic in sub.topics
            for p in range(existing.get(topic, 0))
            if (topic, p) not in sub.assigned
        ]
        if not new:
            return
        for partition in new:
            sub.assigned.add(partition)
            self._positions[partition] = self._broker.committed(self._group, partition) or 0
        if sub.on_assign is not None:
            sub.on_assign(self, [TopicPartition(t, p) for t, p in new])

    def poll(self, timeout: float = -1) -> Message | None:
        deadline = time.monotonic() + (timeout if timeout >= 0 else 3600.0)
        while True:
            self._refresh()
            found = self._take()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._broker.changed:
                self._broker.changed.wait(min(remaining, 0.05))

    def _take(self) -> Message | None:
        ready = [p for p in self._positions if p not in self._paused]
        if not ready:
            return None
        start = next(self._next) % len(ready)
        for partition in ready[start:] + ready[:start]:
            offset = self._positions[partition]
            stored = self._broker.read(partition, offset)
            if stored is not None:
                self._positions[partition] = offset + 1
                return _message(partition[0], partition[1], offset, stored)
        return None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        messages: list[Message] = []
        while len(messages) < num_messages:
            message = self.poll(timeout if not messages else 0)
            if message is None:
                break
            messages.append(message)
        return messages

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self._positions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def seek(self, partition: TopicPartition) -> None:
        offset = partition.offset
        self._positions[(partition.topic, partition.partition)] = (
            0 if offset == OFFSET_BEGINNING else offset
        )

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self._positions.get((tp.topic, tp.partition), -1)
            )
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        return 0, self._broker.end_offset((partition.topic, partition.partition))

    def store_offsets(
        self, message: Message | None = None, offsets: list[TopicPartition] | None = None
    ) -> None:
        for tp in offsets or []:
            self._stored[(tp.topic, tp.partition)] = tp.offset
        if self._auto_commit:
            self._broker.commit(self._group, self._stored)

    def commit(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self._broker.commit(self._group, self._stored)

    def close(self) -> None:
        if self._auto_commit:
            self._broker.commit(self._group, self._stored)
        self._broker.leave(self._group, self)
        self._subscription = None
        self._positions.clear()


class MemoryAdmin(AdminClient):
    def __init__(self, config: dict[str, Any], /, **kwargs: Any) -> None:
        self._broker = MemoryBroker.of(config)

    def list_topics(self, *args: Any, **kwargs: Any) -> ClusterMetadata:
        cluster = ClusterMetadata()
        for name, count in self._broker.topics().items():
            topic = TopicMetadata()
            topic.topic = name
            topic.partitions = {p: PartitionMetadata() for p in range(count)}
            cluster.topics[name] = topic
        return cluster

    def create_topics(  # type: ignore[override]
        self, new_topics: list[Any], **kwargs: Any
    ) -> dict[str, Future[None]]:
        futures: dict[str, Future[None]] = {}
        for topic in new_topics:
            self._broker.create_topic(topic.topic, topic.num_partitions)
            done: Future[None] = Future()
            done.set_result(None)
            futures[topic.topic] = done
        return futures
