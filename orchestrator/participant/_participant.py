"""The participant SDK: how a Kafka-connected microservice executes a saga's commands.

    inbox = PostgresInbox(url, consumer="credit")
    credit = Participant("credit", settings=settings, codec=codec, inbox=inbox)

    @credit.executes(OrderFulfilment, "reserve_credit")
    def reserve(command: ReserveCredit, ctx: CommandContext) -> CreditReserved | CreditRejected:
        ...  # write to ctx.connection: same transaction as the inbox mark
        return CreditReserved(order_id=command.order_id, reservation_id=...)

    credit.run(stop_event)

The step gives the command type, the topic and the replies the handler may return (see
`_handlers`); `ParticipantTestClient` runs the same handlers in memory.

Per batch, in one transaction of the participant's database: claim each command's step key
(`saga_step_key`; another instance holding it makes this wait), answer the keys handled before
with the reply recorded then, re-addressed to the attempt asking now; refuse an execute whose
step's compensation was handled first (CommandRefused); run the other handlers and record
their replies; commit. Then send the replies (keyed by saga id, correlation headers echoed),
and only then store offsets. Poison goes to `<topic>.dlt` before any of it.

Tracing: each command gets a `process <topic>` span under the span that sent it (the relay's),
its handler a `handle <Command>` span under that, and its reply a `send <reply topic>` span
whose traceparent the reply carries; log lines inside a handler carry the command's saga
coordinates and trace ids.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Final, TypeVar

import structlog
from confluent_kafka import KafkaError, KafkaException
from opentelemetry.trace import Tracer

from orchestrator import headers as h
from orchestrator.codec import Codec, DecodeError
from orchestrator.config import Settings
from orchestrator.kafka import (
    ConsumedRecord,
    Consumer,
    DeadLetterPublisher,
    DeliveryTracker,
    Headers,
    Producer,
    PublishError,
    consume_batch,
    consumer_config,
    producer_config,
    store_offsets,
)
from orchestrator.messages import Message
from orchestrator.observability import MessageSpans
from orchestrator.outage import is_outage as _is_outage
from orchestrator.outage import is_transient
from orchestrator.participant._handlers import Handler, Registration, for_step
from orchestrator.participant._inbox import (
    Connection,
    Guard,
    Inbox,
    InboxTransaction,
    StoredReply,
    guard_key_for,
)
from orchestrator.saga import CommandRefused, Saga

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=Message)
H = TypeVar("H", bound=Handler)

# Part of the wire format: the reply to a command always has this id, so a reply re-sent after
# a crash is recognised by the orchestrator as the one it may already have. Never change.
_REPLY_NAMESPACE: Final = uuid.UUID("0b7e1f5c-2d43-4c8a-9a61-5f3e8d2c7b10")


def reply_message_id(command_message_id: str) -> str:
    return str(uuid.uuid5(_REPLY_NAMESPACE, command_message_id))


@dataclass(frozen=True, slots=True)
class CommandContext:
    message_id: str
    saga_id: str
    saga_type: str | None
    step: str | None
    attempt: int | None
    connection: Connection | None  # the inbox transaction's connection, for the handler's writes
    record: ConsumedRecord
    # What the inbox dedupes this command on: its step key (the same for every attempt of the
    # step's current intent), or its message id when it carries none. A handler that keys its
    # own effects should use this, not message_id, which differs per attempt.
    step_key: str = ""


class _HandlerRaisedError(Exception):
    """Internal: a handler raised on the fast path; the batch is retried command by command."""


class _UnhandledError(Exception):
    """Internal: a command failed in isolation; its transaction (claim included) rolls back."""

    def __init__(self, failed: list[tuple[ConsumedRecord, BaseException]]) -> None:
        super().__init__(f"{len(failed)} command(s) failed")
        self.failed = failed


class HandlerFailedError(Exception):
    """A handler raised on every attempt; the command is dead-lettered with this as cause."""


class Participant:
    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        codec: Codec,
        inbox: Inbox,
        handler_attempts: int = 3,
        batch_max_messages: int = 500,
        tracer: Tracer | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._codec = codec
        self._inbox = inbox
        self._handler_attempts = handler_attempts
        self._batch_max = batch_max_messages
        self._by_topic: dict[str, dict[type[Message], Registration]] = {}
        self._delivery = DeliveryTracker()
        self.group_id = f"participant-{name}"
        self._tracer = tracer  # None: the global tracer (a no-op while tracing is off)
        # The batch being processed, while `_process` runs (handle_batch alone has none).
        self._spans: MessageSpans | None = None

    # --- declaration -------------------------------------------------------------------------

    def executes(self, saga: type[Saga], step: str) -> Callable[[H], H]:
        """Register the handler of a saga step: its command, topic and the replies it may
        return come from the step. Its return value is the reply (one of the step's success
        or failure types); None sends no reply. Raises HandlerDeclarationError when the
        handler's annotations do not fit the step."""

        def register(handler: H) -> H:
            self._register(for_step(saga, step, handler, compensation=False))
            return handler

        return register

    def compensates(self, saga: type[Saga], step: str) -> Callable[[H], H]:
        """Register the handler of a saga step's compensation (see `executes`)."""

        def register(handler: H) -> H:
            self._register(for_step(saga, step, handler, compensation=True))
            return handler

        return register

    def handles(self, command: type[M], *, topic: str) -> Callable[[H], H]:
        """Register a handler for a command that is no saga's step (any reply is sent)."""

        def register(handler: H) -> H:
            self._register(Registration(command, topic, handler))
            return handler

        return register

    def _register(self, registration: Registration) -> None:
        on_topic = self._by_topic.setdefault(registration.topic, {})
        if registration.command in on_topic:
            raise ValueError(
                f"{self.name}: {registration.command.__name__} on {registration.topic} "
                "already has a handler"
            )
        on_topic[registration.command] = registration

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def reply_types(self) -> frozenset[type[Message]]:
        """Every reply type the handlers declared for saga steps may return."""
        return frozenset(
            reply
            for on_topic in self._by_topic.values()
            for registration in on_topic.values()
            for reply in registration.replies or ()
        )

    # --- batch processing (no Kafka: testable with a MemoryInbox) ------------------------------

    def decode(self, record: ConsumedRecord) -> tuple[Registration, Message]:
        """Raises DecodeError for poison, RegistryUnavailableError when the registry is down."""
        on_topic = self._by_topic.get(record.topic, {})
        message = self._codec.decode(record.topic, record.value, accepted=list(on_topic))
        return on_topic[type(message)], message

    def handle_batch(
        self, commands: Sequence[tuple[ConsumedRecord, Registration, Message]]
    ) -> tuple[list[StoredReply], list[tuple[ConsumedRecord, BaseException]]]:
        """Run handlers for new commands and mark them handled, in one inbox transaction.

        Returns the replies to send (new and re-sent) and the commands whose handler failed on
        every attempt. Fast path: the whole batch in one transaction without savepoints. If a
        handler raises, that transaction rolls back whole (its writes with it) and the batch
        runs again one command per transaction, where failures are retried and isolated.
        """
        try:
            with self._inbox.transaction() as tx:
                return self._handle(tx, commands, isolate=False)
        except _HandlerRaisedError:
            log.info("a handler failed; isolating the batch's commands", participant=self.name)
        replies: list[StoredReply] = []
        failed: list[tuple[ConsumedRecord, BaseException]] = []
        for command in commands:
            try:
                with self._inbox.transaction() as tx:
                    sent, _ = self._handle(tx, [command], isolate=True)
            except _UnhandledError as unhandled:
                failed.extend(unhandled.failed)
                continue
            replies.extend(sent)
        return replies, failed

    def _handle(
        self,
        tx: InboxTransaction,
        commands: Sequence[tuple[ConsumedRecord, Registration, Message]],
        *,
        isolate: bool,
    ) -> tuple[list[StoredReply], list[tuple[ConsumedRecord, BaseException]]]:
        replies: list[StoredReply] = []
        failed: list[tuple[ConsumedRecord, BaseException]] = []
        identities = [_identity(record) for record, _, _ in commands]
        claims = tx.claim(
            [i.key for i in identities],
            also_seen=[i.message_id for i in identities if i.message_id != i.key],
            guards=[i.guard for i in identities if i.guard is not None],
        )
        handled: dict[str, StoredReply | None] = {}  # this transaction's records, by key
        for (record, registration, message), identity in zip(commands, identities, strict=True):
            context = CommandContext(
                message_id=identity.message_id,
                saga_id=identity.saga_id,
                saga_type=record.header(h.SAGA_TYPE),
                step=record.header(h.STEP),
                attempt=_int_or_none(record.header(h.ATTEMPT)),
                connection=tx.connection,
                record=record,
                step_key=identity.key,
            )
            key = identity.key
            if key in handled or key not in claims.claimed or identity.message_id in claims.stored:
                # A repeat: another attempt of a step already handled (by this batch, by an
                # earlier one, by another instance, or by a release that keyed on message ids).
                # Answered with the reply recorded then, addressed to the attempt asking now.
                if key in handled:
                    stored = handled[key]
                elif key in claims.claimed:
                    stored = claims.stored[identity.message_id]
                    handled[key] = stored  # adopt the old release's answer under the step key
                else:
                    stored = claims.stored.get(key)
                if stored is not None:
                    replies.append(self._readdressed(stored, record, context))
                self._annotate(record, "duplicate")
                continue
            guard = identity.guard
            if guard is not None and not guard.compensation and guard.key in claims.tombstones:
                # The step's compensation came first: executing now would leave an effect
                # nobody undoes. Refuse, and store the refusal like any reply, so a command
                # redelivered later gets the same answer.
                try:
                    refusal = self._refusal(record, context)
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    if not isolate:
                        raise _HandlerRaisedError from exc
                    failed.append((record, exc))
                    continue
                handled[key] = refusal
                replies.append(refusal)
                self._annotate(record, "refused")
                continue
            if isolate:
                with self._handling(record, registration):
                    outcome = self._run_handler(tx, registration, message, context)
                if isinstance(outcome, BaseException):
                    failed.append((record, outcome))
                    continue
                try:
                    reply = None if outcome is None else self._reply(record, context, outcome)
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    # No reply topic, a reply the codec refuses: this command can never be
                    # answered, so it is dead-lettered rather than retried for ever.
                    failed.append((record, exc))
                    continue
            else:
                try:
                    with self._handling(record, registration):
                        outcome = registration.run(message, context)
                    reply = None if outcome is None else self._reply(record, context, outcome)
                except Exception as exc:
                    if _is_outage(exc):
                        raise
                    raise _HandlerRaisedError from exc
            handled[key] = reply
            self._annotate(record, "no_reply" if outcome is None else type(outcome).__name__)
            if reply is not None:
                replies.append(reply)
        if failed:
            # Only in isolation, one command per transaction: roll its claim back with its
            # writes, so that the dead-lettered command runs again when redriven.
            raise _UnhandledError(failed)
        tx.record(list(handled.items()))
        return replies, failed

    def _run_handler(
        self,
        tx: InboxTransaction,
        registration: Registration,
        message: Message,
        context: CommandContext,
    ) -> Message | BaseException | None:
        last: BaseException | None = None
        for attempt in range(1, self._handler_attempts + 1):
            try:
                with tx.handling():
                    return registration.run(message, context)
            except Exception as exc:  # noqa: BLE001 - a handler's failure is data: retried, then dead-lettered
                last = exc
                log.warning(
                    "handler failed",
                    participant=self.name,
                    command=registration.command.avro_name,
                    message_id=context.message_id,
                    attempt=attempt,
                    error=repr(exc),
                )
                if is_transient(exc):
                    time.sleep(min(0.05 * 2**attempt, 1.0))
        assert last is not None
        if _is_outage(last):
            # The handler's own dependency is down: keep the batch and retry it later rather
            # than dead-letter a healthy command.
            raise last
        return HandlerFailedError(f"{registration.command.__name__} handler failed: {last!r}")

    def _reply(
        self, record: ConsumedRecord, context: CommandContext, reply: Message
    ) -> StoredReply:
        reply_topic = record.header(h.REPLY_TOPIC)
        if reply_topic is None:
            raise HandlerFailedError(f"{record.coordinates}: command has no {h.REPLY_TOPIC} header")
        encoded = self._codec.encode(reply_topic, reply)
        return StoredReply(
            context.message_id,
            reply_topic,
            context.saga_id.encode(),
            encoded,
            _reply_headers(record, context),
        )

    @staticmethod
    def _readdressed(
        stored: StoredReply, record: ConsumedRecord, context: CommandContext
    ) -> StoredReply:
        """The recorded reply (same topic, key and value bytes) as the answer to the command
        asking now: its attempt, its message id as causation, a reply id derived from it. The
        worker then takes it as the outcome of the attempt it waits for, and dedupes it per
        attempt like any reply."""
        headers = _reply_headers(record, context)
        return replace(stored, message_id=context.message_id, headers=headers)

    def _refusal(self, record: ConsumedRecord, context: CommandContext) -> StoredReply:
        log.info(
            "command refused: its step was compensated first",
            participant=self.name,
            message_id=context.message_id,
            step=context.step,
        )
        refused = CommandRefused(
            saga_id=context.saga_id, step=context.step or "", reason="compensated"
        )
        return self._reply(record, context, refused)

    @contextmanager
    def _handling(self, record: ConsumedRecord, registration: Registration) -> Iterator[None]:
        """The handler's span (under the command's) and its log binding, when in a batch."""
        spans = self._spans
        if spans is None or spans.get(record.coordinates) is None:
            yield
            return
        name = f"handle {registration.command.__name__}"
        with (
            spans.child(record.coordinates, name) as span,
            spans.logging(record.coordinates, span=span),
        ):
            yield

    def _annotate(self, record: ConsumedRecord, outcome: str) -> None:
        if self._spans is not None:
            self._spans.annotate(record.coordinates, outcome=outcome)

    # --- the Kafka loop ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        if not self._by_topic:
            raise ValueError(f"participant {self.name} has no handlers")
        settings = self._settings
        consumer = Consumer(
            consumer_config(settings, group_id=self.group_id, client_id=f"{self.group_id}-consumer")
        )
        producer = Producer(producer_config(settings, client_id=f"{self.group_id}-producer"))
        dead_letters = DeadLetterPublisher(producer, self.group_id)
        consumer.subscribe(self.topics)
        log.info("participant running", participant=self.name, topics=self.topics)
        try:
            while not stop.is_set():
                messages = consume_batch(consumer, self._batch_max, 0.1)
                records = []
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() in _AUTHORIZATION_ERRORS:
                            # Nothing is consumed until the ACLs allow it: a pause, said plainly.
                            log.error(
                                "Kafka refused to let this participant's principal consume",
                                participant=self.name,
                                error=str(error),
                            )
                        elif error.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error", participant=self.name, error=str(error))
                        continue
                    records.append(ConsumedRecord.from_message(message))
                if records:
                    self._process_until_done(records, producer, dead_letters, stop)
                    try:
                        store_offsets(consumer, records)
                    except KafkaException as exc:
                        # A partition revoked while the batch ran: its next owner starts from
                        # the last committed offset and the inbox answers the repeats.
                        log.warning("offsets not stored", participant=self.name, error=str(exc))
        finally:
            producer.flush(30)
            consumer.close()
            log.info("participant stopped", participant=self.name)

    def _process_until_done(
        self,
        records: list[ConsumedRecord],
        producer: Producer,
        dead_letters: DeadLetterPublisher,
        stop: threading.Event,
    ) -> None:
        delay = 0.1
        while True:
            try:
                self._process(records, producer, dead_letters)
            except Exception as exc:
                if not _is_outage(exc):
                    raise
                error: BaseException = exc
            else:
                return
            # A dependency is down: keep the batch, never dead-letter healthy commands for it.
            if _not_authorized(error):
                # Paused until the ACLs allow the reply (sagactl acls), said plainly.
                log.error(
                    "Kafka refused a reply: this participant's principal may not write its "
                    "topic; retrying batch",
                    participant=self.name,
                    error=str(error),
                )
            else:
                log.warning(
                    "dependency unavailable; retrying batch",
                    participant=self.name,
                    error=repr(error),
                )
            if stop.wait(delay):
                raise error
            delay = min(delay * 2, 5.0)

    def _process(
        self, records: list[ConsumedRecord], producer: Producer, dead_letters: DeadLetterPublisher
    ) -> None:
        spans = self._spans = MessageSpans(self._tracer, self.group_id)
        try:
            self._process_traced(records, producer, dead_letters, spans)
        finally:
            self._spans = None
            spans.end_all()

    def _process_traced(
        self,
        records: list[ConsumedRecord],
        producer: Producer,
        dead_letters: DeadLetterPublisher,
        spans: MessageSpans,
    ) -> None:
        commands: list[tuple[ConsumedRecord, Registration, Message]] = []
        coordinates: dict[str, str] = {}  # command message id -> record coordinates
        for record in records:
            identity = _identity(record)
            coordinates[identity.message_id] = record.coordinates
            spans.start_record(
                record, message_id=identity.message_id, saga_id=identity.saga_id or None
            )
            try:
                registration, message = self.decode(record)
            except DecodeError as exc:
                dead = dead_letters.publish(record, exc, reason=exc.reason)
                spans.dead_lettered(
                    record.coordinates, reason=exc.reason, dead_letter_topic=dead.topic, error=exc
                )
                continue
            commands.append((record, registration, message))
        replies, failed = self.handle_batch(commands)
        for record, error in failed:
            dead = dead_letters.publish(
                record, error, reason="handler_failed", attempts=self._handler_attempts
            )
            spans.dead_lettered(
                record.coordinates,
                reason="handler_failed",
                dead_letter_topic=dead.topic,
                error=error,
            )
        for reply in replies:
            with spans.sending(
                coordinates.get(reply.message_id),
                topic=reply.topic,
                key=reply.key,
                message_id=reply_message_id(reply.message_id),
                headers=list(reply.headers),
            ) as headers:
                producer.produce(
                    reply.topic,
                    key=reply.key,
                    value=reply.value,
                    headers=list[tuple[str, str | bytes | None]](headers),
                    on_delivery=self._delivery,
                )
        # Raises PublishError unless every reply was acknowledged: the offsets stay unstored
        # and the batch is retried (the inbox answers with the stored replies).
        self._delivery.raise_if_failed(producer, 30.0)


_AUTHORIZATION_ERRORS = frozenset(
    {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}
)


def _not_authorized(error: BaseException) -> bool:
    # The delivery failure is flattened into PublishError's text by the tracker.
    return isinstance(error, PublishError) and "TOPIC_AUTHORIZATION_FAILED" in str(error)


def _reply_headers(record: ConsumedRecord, context: CommandContext) -> Headers:
    headers: Headers = [
        (h.MESSAGE_ID, reply_message_id(context.message_id).encode()),
        (h.SAGA_ID, context.saga_id.encode()),
        (h.CAUSATION_ID, context.message_id.encode()),
    ]
    for name in (h.SAGA_TYPE, h.STEP, h.ATTEMPT, h.CORRELATION_ID, h.TRACEPARENT, h.TRACESTATE):
        echoed = record.header(name)
        if echoed is not None:
            headers.append((name, echoed.encode()))
    return headers


@dataclass(frozen=True, slots=True)
class _Identity:
    """What one command is deduplicated on."""

    message_id: str
    saga_id: str
    key: str  # the step key, or the message id of a command without one
    guard: Guard | None  # the (saga, step) guard, for commands that say their kind


def _identity(record: ConsumedRecord) -> _Identity:
    # A command without an id cannot be deduplicated by id; its coordinates are the next best
    # stable identity (the dbos convention: topic/partition/offset).
    message_id = record.header(h.MESSAGE_ID) or f"{record.topic}:{record.partition}:{record.offset}"
    saga_id = record.header(h.SAGA_ID) or (record.key or b"").decode("utf-8", "replace")
    step, kind = record.header(h.STEP), record.header(h.COMMAND_KIND)
    guard = None
    if saga_id and step and kind in (h.COMMAND_KIND_EXECUTE, h.COMMAND_KIND_COMPENSATE):
        guard = Guard(guard_key_for(saga_id, step), kind == h.COMMAND_KIND_COMPENSATE)
    return _Identity(message_id, saga_id, record.header(h.STEP_KEY) or message_id, guard)


def _int_or_none(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None
