"""`sagactl demo`: proves the local stack works end to end (replaced by the saga demo later)."""

from __future__ import annotations

import time
import uuid

import click
import psycopg
from confluent_kafka import Consumer, KafkaException, Producer

from orchestrator.config import Settings


@click.command()
def demo() -> None:
    """Round-trip one message through Kafka and one row through PostgreSQL."""
    settings = Settings.from_env()
    topic = "saga.demo.ping"
    token = uuid.uuid4().hex
    started = time.monotonic()
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    producer.produce(topic, key=token.encode(), value=f"ping {token}".encode())
    if producer.flush(15) != 0:
        raise click.ClickException(f"Kafka at {settings.kafka_bootstrap} did not acknowledge")
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"sagactl-demo-{token}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            if msg.key() == token.encode():
                break
        else:
            raise click.ClickException("the ping message did not come back within 30 s")
    finally:
        consumer.close()
    with psycopg.connect(settings.database_url) as conn:
        now = conn.execute("SELECT now()").fetchone()
    click.echo(f"kafka: round-tripped one message on {topic} via {settings.kafka_bootstrap}")
    click.echo(f"postgres: connected as the application role, server time {now[0] if now else '?'}")
    click.echo(f"demo finished in {time.monotonic() - started:.2f}s")
