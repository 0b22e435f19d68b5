"""The real servers `make up` starts: a message survives a broker round trip, a row a commit."""

from __future__ import annotations

import uuid

import psycopg
from confluent_kafka import Consumer, Producer

from tests.conftest import PgUrls
from tests.support import eventually


def test_message_round_trips_through_the_real_broker(kafka_bootstrap: str) -> None:
    topic = f"test.infrastructure.{uuid.uuid4().hex[:8]}"
    payload = uuid.uuid4().bytes
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=payload, headers=[("h", b"v")])
    assert producer.flush(15) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        # poll() itself blocks for up to half a second: no pause between polls.
        received = eventually(
            lambda: consumer.poll(0.5),
            f"the message back from the broker on {topic}",
            until=lambda msg: msg is not None and msg.error() is None,
            timeout=30,
            interval=0.0,
        )
    finally:
        consumer.close()
    assert received is not None
    assert received.value() == payload
    assert received.headers() == [("h", b"v")]


def test_row_survives_a_commit_in_the_real_database(pg_urls: PgUrls) -> None:
    token = uuid.uuid4().hex
    with psycopg.connect(pg_urls.superuser, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS infra_probe (token text PRIMARY KEY)")
        conn.execute("INSERT INTO infra_probe VALUES (%s)", (token,))
    with psycopg.connect(pg_urls.superuser) as conn:
        row = conn.execute("SELECT token FROM infra_probe WHERE token = %s", (token,)).fetchone()
        conn.execute("DELETE FROM infra_probe WHERE token = %s", (token,))
    assert row == (token,)
