"""Point 5 of issue 14: least privilege. The broker authorizes with KRaft's StandardAuthorizer
(deny unless allowed); `sagactl acls apply` grants exactly what `sagactl acls` prints, sagas
complete with those grants and nothing else, and a participant's principal is refused
everything it was not granted."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka import admin as kafka_admin
from confluent_kafka.admin import AdminClient

from orchestrator import headers as h
from orchestrator.codec import Codec, CodecSettings, RegistrySettings, connect_registry
from sagas.order_fulfilment import OrderFulfilment
from sagas.order_messages import ReserveCredit
from tests.integration.security._run import sagactl, spawn, stop, tails
from tests.integration.security.conftest import SecureKafka

ORDERS = 6
ORDER_SAGA = "sagas.order_fulfilment:OrderFulfilment"
USERS = ["--worker-user", "worker", "--starter-user", "starter"]


@pytest.fixture
def granted(secure_kafka: SecureKafka) -> str:
    """The ACLs of the order saga applied by the admin; yields the worker's consumer group."""
    group = f"acl-{uuid.uuid4().hex[:8]}"
    env = secure_kafka.env("admin") | {"SAGA_SAGAS": ORDER_SAGA, "SAGA_CONSUMER_GROUP": group}
    applied = sagactl(["acls", "apply", *USERS], env, timeout=120)
    assert applied.returncode == 0, applied.stderr
    assert re.fullmatch(r"sagactl: \d+ ACL\(s\) in place\n", applied.stderr), applied.stderr
    return group


def _refused(kind: str, secure_kafka: SecureKafka, principal: str, topic: str) -> KafkaError:
    """The error the broker answers `principal` with for reading or writing `topic`."""
    config = secure_kafka.client_config(principal) | {"log_level": 0}
    if kind == "write":
        outcome: list[KafkaError | None] = []
        producer = Producer(config | {"message.timeout.ms": 20_000})
        producer.produce(topic, b"x", on_delivery=lambda err, _msg: outcome.append(err))
        producer.flush(30)
        assert outcome, f"no delivery report for {topic}"
        refusal = outcome[0]
        assert refusal is not None, f"{principal} could write {topic}"
        return refusal
    consumer = Consumer(config | {"group.id": f"participant-{principal}"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            error = message.error() if message is not None else None
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                return error
            assert message is None or error is not None, f"{principal} read {topic}"
    finally:
        consumer.close()
    raise AssertionError(f"{principal} was not refused {topic} within 30s")


def _ensure_topic(secure_kafka: SecureKafka, topic: str) -> None:
    admin = AdminClient(secure_kafka.client_config("admin"))
    new_topic = kafka_admin.NewTopic(topic, 1, 1)  # type: ignore[attr-defined]
    for future in admin.create_topics([new_topic]).values():
        problem = future.exception(30)
        # An existing topic is as good as a new one.
        assert problem is None or "TOPIC_ALREADY_EXISTS" in str(problem), problem


def test_acls_prints_each_principals_grants(secure_kafka: SecureKafka) -> None:
    env = {"SAGA_SAGAS": ORDER_SAGA, "SAGA_CONSUMER_GROUP": "orders"}
    result = sagactl(["acls", *USERS, "--output", "json"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    grants = {(r["principal"], r["resource_type"], r["resource"], r["operation"])
              for r in json.loads(result.stdout)}  # fmt: skip
    assert ("User:credit", "TOPIC", "credit.commands", "READ") in grants
    assert ("User:credit", "TOPIC", "order_fulfilment.replies", "WRITE") in grants
    assert ("User:credit", "GROUP", "participant-credit", "READ") in grants
    assert ("User:worker", "GROUP", "orders", "READ") in grants
    assert ("User:starter", "TOPIC", "order_fulfilment.start", "WRITE") in grants
    credit = {g for g in grants if g[0] == "User:credit"}
    assert {g[2] for g in credit} == {"credit.commands", "credit.commands.dlt",
                                      "order_fulfilment.replies", "participant-credit"}  # fmt: skip
    assert not any(g[3] == "READ" and g[2] == "order_fulfilment.replies" for g in credit)


@pytest.mark.timeout(600)
def test_sagas_complete_with_exactly_the_printed_acls(
    secure_kafka: SecureKafka, granted: str, scratch_database: tuple[str, str], tmp_path: Path
) -> None:
    database = {"SAGA_DATABASE_URL": scratch_database[0],
                "SAGA_OWNER_DATABASE_URL": scratch_database[1]}  # fmt: skip
    common = database | {"SAGA_SAGAS": ORDER_SAGA, "SAGA_CONSUMER_GROUP": granted}
    assert sagactl(["db", "migrate"], common, timeout=120).returncode == 0
    children: list[subprocess.Popen[bytes]] = []
    try:
        worker = spawn(["worker"], common | secure_kafka.env("worker"), tmp_path / "worker.log")
        children.append(worker)
        for service in ("credit", "inventory", "shipping"):
            children.append(
                spawn(
                    ["participant", service],
                    common | secure_kafka.env(service),
                    tmp_path / f"{service}.log",
                )
            )
        demo = sagactl(
            ["demo", "--external-services", "--orders", str(ORDERS), "--timeout", "300"],
            common | secure_kafka.env("starter"),
            timeout=400,
        )
        assert demo.returncode == 0, demo.stderr[-2000:] + tails(tmp_path)
        assert f"{ORDERS} sagas in " in demo.stdout
    finally:
        stop(children)


@pytest.mark.parametrize(
    ("kind", "topic"),
    [
        ("read", "inventory.commands"),  # another participant's commands
        ("write", "order_fulfilment.start"),  # starting sagas
        ("write", "trip_booking.replies"),  # another saga's replies
        ("read", "order_fulfilment.replies"),  # the saga's data: replies and starts
        ("read", "order_fulfilment.start"),
    ],
)
def test_a_participant_principal_is_refused_what_it_was_not_granted(
    secure_kafka: SecureKafka, granted: str, kind: str, topic: str
) -> None:
    _ensure_topic(secure_kafka, topic)
    error = _refused(kind, secure_kafka, "credit", topic)
    assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


@pytest.mark.timeout(300)
def test_a_forged_reply_topic_pauses_the_participant_with_a_clear_error(
    secure_kafka: SecureKafka, granted: str, scratch_database: tuple[str, str], tmp_path: Path
) -> None:
    """A command whose reply-topic header names another saga's replies: the participant may
    not write there, so it keeps the batch (a pause, offsets unstored) and says why."""
    _ensure_topic(secure_kafka, "trip_booking.replies")
    # The command topic too: this test must not depend on an earlier one's worker creating it.
    _ensure_topic(secure_kafka, OrderFulfilment.definition.steps["reserve_credit"].topic)
    env = secure_kafka.env("credit") | {
        "SAGA_DATABASE_URL": scratch_database[0],
        "SAGA_OWNER_DATABASE_URL": scratch_database[1],
        "SAGA_SAGAS": ORDER_SAGA,
        "SAGA_LOG_FORMAT": "json",
    }
    assert sagactl(["db", "migrate"], env, timeout=120).returncode == 0
    log_file = tmp_path / "credit.log"
    participant = spawn(["participant", "credit"], env, log_file)
    try:
        forged = _forged_credit_command(secure_kafka, scratch_database)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "Kafka refused a reply" not in log_file.read_text():
            assert participant.poll() is None, log_file.read_text()[-3000:]
            time.sleep(0.5)
        text = log_file.read_text()
        assert "Kafka refused a reply" in text, text[-3000:]
        refusal = next(
            json.loads(line) for line in text.splitlines() if "Kafka refused a reply" in line
        )
        assert refusal["level"] == "error"
        assert "TOPIC_AUTHORIZATION_FAILED" in refusal["error"]
        assert forged  # the command's id, for the reader of a failure
    finally:
        participant.send_signal(signal.SIGTERM)
        participant.wait(30)


def _forged_credit_command(secure_kafka: SecureKafka, database: tuple[str, str]) -> str:
    """Publish, as the admin, a valid ReserveCredit command that asks for its reply on
    trip_booking.replies; its message id."""
    step = OrderFulfilment.definition.steps["reserve_credit"]
    registry = connect_registry(RegistrySettings(database_url=database[0]))
    codec = Codec(registry, CodecSettings())
    assert step.command is ReserveCredit
    command = ReserveCredit(order_id="o-1", customer_id="c-1", amount_cents=100)
    message_id = f"forged-{uuid.uuid4().hex[:8]}"
    producer = Producer(secure_kafka.client_config("admin"))
    producer.produce(
        step.topic,
        key=b"saga-forged",
        value=codec.encode(step.topic, command),
        headers=[
            (h.MESSAGE_ID, message_id),
            (h.SAGA_ID, "saga-forged"),
            (h.SAGA_TYPE, "order_fulfilment"),
            (h.STEP, "reserve_credit"),
            (h.REPLY_TOPIC, "trip_booking.replies"),
        ],
    )
    assert producer.flush(30) == 0
    return message_id


def test_a_worker_without_its_acls_stops_in_one_line(
    secure_kafka: SecureKafka, granted: str, scratch_database: tuple[str, str]
) -> None:
    # The shipping service's principal may not create (or read) the worker's topics.
    env = secure_kafka.env("shipping") | {
        "SAGA_DATABASE_URL": scratch_database[0],
        "SAGA_SAGAS": ORDER_SAGA,
        "SAGA_CONSUMER_GROUP": granted,
    }
    result = sagactl(["worker"], env, timeout=120)
    assert result.returncode == 3, result.stderr[-2000:]
    [line] = result.stderr.splitlines()
    assert line.startswith("sagactl: Kafka topics: could not create topics: "), line
    assert "TOPIC_AUTHORIZATION_FAILED" in line, line
