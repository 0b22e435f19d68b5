"""The codec's external-registry path (SAGA_SCHEMA_REGISTRY_URL) against a real HTTP registry:
`sagactl registry serve`, driven by confluent_kafka's own HTTP client and by the Codec."""

from __future__ import annotations

import copy
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from orchestrator.codec import REGISTRY_CONTENT_TYPE as CONTENT_TYPE
from orchestrator.codec import (
    Codec,
    CodecSettings,
    IncompatibleSchemaError,
    PostgresSchemaRegistryClient,
    RegistrySettings,
    RegistryUnavailableError,
    SubjectNameStrategy,
    connect_registry,
    subject_name,
)
from tests.conftest import PgUrls
from tests.integration.registry.conftest import CREDENTIALS
from tests.unit.codec.codec_samples import ReserveStock, typical_command


def record(unique: str, *extra_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"Http{unique}",
        "namespace": "saga.test.http",
        "fields": [{"name": "id", "type": "string"}, *extra_fields],
    }


def call(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, Any]:
    """One request on a kept-alive connection: status, headers, decoded JSON body."""
    connection.request(method, path, body=body, headers={"Content-Type": CONTENT_TYPE})
    reply = connection.getresponse()
    return reply.status, reply.headers, json.loads(reply.read())


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


def external_codec(
    url: str, strategy: SubjectNameStrategy = "TOPIC_RECORD", basic_auth: str | None = None
) -> Codec:
    registry = connect_registry(RegistrySettings(url=url, basic_auth=basic_auth))
    assert not isinstance(registry, PostgresSchemaRegistryClient)  # really the HTTP client
    return Codec(registry, CodecSettings(subject_name_strategy=strategy))


def test_confluent_client_registers_looks_up_and_fetches(registry_url: str, unique: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    subject = f"http-{unique}-value"
    v1 = avro(record(unique))
    v2 = avro(record(unique, {"name": "n", "type": "int", "default": 0}))

    first = client.register_schema(subject, v1)
    assert client.register_schema(subject, v1) == first  # idempotent
    second = client.register_schema_full_response(subject, v2).schema_id
    assert second is not None
    assert second != first
    assert client.get_versions(subject) == [1, 2]
    assert subject in client.get_subjects()
    looked_up = client.lookup_schema(subject, v1)
    assert (looked_up.schema_id, looked_up.version) == (first, 1)
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (second, 2)
    assert client.get_version(subject, 1).schema.schema_str == v1.schema_str
    fresh = SchemaRegistryClient({"url": registry_url})  # no cache: really asks the server
    assert fresh.get_schema(second).schema_str == v2.schema_str


def test_errors_carry_confluents_codes(registry_url: str, unique: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    expectations: list[tuple[Callable[[], object], int, int]] = [
        (lambda: client.get_versions(f"missing-{unique}"), 404, 40401),
        (lambda: client.get_schema(2_000_000_000), 404, 40403),
        (lambda: client.set_compatibility(f"x-{unique}", "SIDEWAYS"), 422, 42203),
        (lambda: client.register_schema(f"x-{unique}", Schema("{nope", "AVRO")), 422, 42201),
    ]
    for attempt, status, code in expectations:
        with pytest.raises(SchemaRegistryError) as caught:
            attempt()
        assert (caught.value.http_status_code, caught.value.error_code) == (status, code)

    connection = connect(registry_url)
    status, headers, body = call(connection, "GET", "/no/such/thing")
    assert (status, headers["Content-Type"], body["error_code"]) == (404, CONTENT_TYPE, 404)
    status, _, body = call(connection, "DELETE", f"/subjects/x-{unique}")
    assert (status, body["error_code"]) == (405, 405)  # append-only, as the built-in registry
    status, _, body = call(connection, "POST", f"/subjects/x-{unique}/versions", b"{not json")
    assert (status, body["error_code"]) == (400, 400)
    connection.close()


def test_http_and_builtin_clients_share_ids(
    registry_url: str, registry_db: PgUrls, unique: str
) -> None:
    schema = avro(record(unique))
    over_http = SchemaRegistryClient({"url": registry_url}).register_schema(f"s-{unique}", schema)
    builtin = PostgresSchemaRegistryClient(registry_db.app)
    try:
        assert builtin.lookup_schema(f"s-{unique}", schema).schema_id == over_http
    finally:
        builtin.close()


@pytest.mark.parametrize("strategy", ["TOPIC_RECORD", "RECORD", "TOPIC"])
def test_codec_round_trips_under_each_subject_name_strategy(
    registry_url: str, unique: str, strategy: SubjectNameStrategy
) -> None:
    topic = f"codec-{strategy.lower()}-{unique}"
    codec = external_codec(registry_url, strategy)
    message = typical_command(7)
    data = codec.encode(topic, message)
    expected = subject_name(strategy, topic, ReserveStock.avro_name)
    client = SchemaRegistryClient({"url": registry_url})
    assert expected in client.get_subjects()
    assert client.get_latest_version(expected).schema_id == int.from_bytes(data[1:5], "big")
    reader = external_codec(registry_url, strategy)  # another process's codec: empty caches
    assert reader.decode(topic, data, accepted=[ReserveStock]) == message


def test_compatibility_level_is_per_subject(registry_url: str, unique: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})
    strict, relaxed = f"codec-strict-{unique}", f"codec-relaxed-{unique}"
    changed = copy.deepcopy(dict(ReserveStock.avro_schema.schema))
    changed["fields"][0]["type"] = "long"  # order_id: string -> long, breaks BACKWARD
    for topic in (strict, relaxed):
        client.register_schema(f"{topic}-{ReserveStock.avro_name}", avro(changed))
    # confluent-kafka annotates set_compatibility `-> str`; it returns the response document.
    assert client.set_compatibility(f"{relaxed}-{ReserveStock.avro_name}", "NONE") == {  # type: ignore[comparison-overlap]
        "compatibility": "NONE"
    }
    assert client.get_compatibility(f"{relaxed}-{ReserveStock.avro_name}") == "NONE"
    assert client.get_compatibility(f"{strict}-{ReserveStock.avro_name}") == "BACKWARD_TRANSITIVE"
    current = Schema(ReserveStock.avro_schema.schema_str, "AVRO")
    assert not client.test_compatibility(f"{strict}-{ReserveStock.avro_name}", current)
    assert client.test_compatibility(f"{relaxed}-{ReserveStock.avro_name}", current)

    codec = external_codec(registry_url)
    with pytest.raises(IncompatibleSchemaError, match="type_mismatch"):
        codec.encode(strict, typical_command())
    data = codec.encode(relaxed, typical_command())
    assert client.get_versions(f"{relaxed}-{ReserveStock.avro_name}") == [1, 2]
    assert codec.decode(relaxed, data, accepted=[ReserveStock]) == typical_command()


_REGISTER_IN_A_CHILD = """
import json, sys, threading, time
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
url, subject, schemas, start_at = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(
    sys.argv[4])
results = []
def register(text):
    client = SchemaRegistryClient({"url": url})
    client.get_compatibility()  # connected before the start line: all race on registering
    time.sleep(max(0.0, start_at - time.time()))  # on purpose: all start at one instant
    found = client.register_schema_full_response(subject, Schema(text, "AVRO"))
    results.append([found.schema_id, client.lookup_schema(subject, Schema(text, "AVRO")).version])
threads = [threading.Thread(target=register, args=(schemas[i % 2],)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""


def test_concurrent_registration_from_processes_and_threads_agrees(
    registry_url: str, unique: str
) -> None:
    subject = f"race-{unique}"
    schemas = [
        json.dumps(record(unique)),
        json.dumps(record(unique, {"name": "n", "type": "int", "default": 0})),
    ]
    start_at = str(time.time() + 3.0)
    children = [
        subprocess.Popen(
            [
                *(sys.executable, "-c", _REGISTER_IN_A_CHILD),
                *(registry_url, subject, json.dumps(schemas), start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=90) for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    results = [tuple(pair) for out, _ in outputs for pair in json.loads(out)]
    assert len(results) == 12
    assert len(set(results)) == 2  # two schemas, one (id, version) each, whoever won the race
    assert sorted(version for _, version in set(results)) == [1, 2]
    assert SchemaRegistryClient({"url": registry_url}).get_versions(subject) == [1, 2]


def test_basic_auth_is_required_and_the_codec_sends_it(authed_registry: str, unique: str) -> None:
    topic = f"codec-auth-{unique}"
    codec = external_codec(authed_registry, basic_auth=CREDENTIALS)
    data = codec.encode(topic, typical_command(3))
    assert codec.decode(topic, data, accepted=[ReserveStock]) == typical_command(3)

    user = CREDENTIALS.split(":")[0]
    for conf in ({}, {"basic.auth.user.info": f"{user}:wrong"}):
        anonymous = SchemaRegistryClient({"url": authed_registry, **conf})
        with pytest.raises(SchemaRegistryError) as caught:
            anonymous.get_subjects()
        assert caught.value.http_status_code == 401
    status, headers, _ = call(connect(authed_registry), "GET", "/subjects")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Basic realm="schema-registry"')
    # A refused password says nothing about the data: the codec retries rather than
    # dead-letter healthy messages; nothing checks the credentials at start today.
    wrong = external_codec(authed_registry, basic_auth=f"{user}:wrong")
    with pytest.raises(RegistryUnavailableError, match="401"):
        wrong.encode(f"codec-auth-wrong-{unique}", typical_command())


def test_registrations_over_one_connection_stay_in_step(registry_url: str, unique: str) -> None:
    """Keep-alive: a refused request's body must not be read as the next request."""
    connection = connect(registry_url)
    path = f"/subjects/k-{unique}/versions"
    good = json.dumps({"schema": json.dumps(record(unique))}).encode()
    for _ in range(5):
        assert call(connection, "POST", path, b'{"schema": "{nope"}')[0] == 422
        status, _, body = call(connection, "POST", path, good)
        assert (status, sorted(body)) == (200, ["id"])
    connection.close()


def test_serve_refuses_bad_options_in_one_line(registry_url: str) -> None:
    port = registry_url.rsplit(":", 1)[1]
    sagactl = [sys.executable, "-m", "orchestrator.cli", "registry", "serve"]
    for args, ours in (
        (["--basic-auth", "no-colon"], False),  # refused by its parameter type
        (["--port", port], True),  # taken by the session's registry
        (["--port", "-1"], False),  # click's own usage error
    ):
        done = subprocess.run(
            sagactl + args, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        if ours:
            assert len(lines) == 1, done.stderr
            assert lines[0].startswith("sagactl: "), done.stderr
        else:
            assert lines[-1].startswith("Error: "), done.stderr
