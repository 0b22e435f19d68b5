"""A second, independent client: franz-go's pkg/sr (tests/interop/srcheck) against the same
HTTP registry, checked against what confluent_kafka reads from it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.integration.registry.conftest import CREDENTIALS
from tests.interop.gobuild import build


@pytest.fixture(scope="module")
def srcheck() -> Path:
    return build("srcheck")


def schemas(tmp_path: Path, unique: str) -> tuple[Path, Path]:
    v1: dict[str, Any] = {
        "type": "record",
        "name": f"Go{unique}",
        "namespace": "saga.test.franz",
        "fields": [{"name": "id", "type": "string"}],
    }
    v2 = {**v1, "fields": [{"name": "id", "type": "long"}]}  # string -> long: incompatible
    paths = tmp_path / "v1.avsc", tmp_path / "v2.avsc"
    for path, schema in zip(paths, (v1, v2), strict=True):
        path.write_text(json.dumps(schema))
    return paths


def run_srcheck(
    srcheck: Path, url: str, subject: str, files: tuple[Path, Path], auth: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SRCHECK_BASIC_AUTH": auth or ""}
    return subprocess.run(
        [str(srcheck), url, subject, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_franz_go_and_confluent_kafka_see_one_registry(
    srcheck: Path, registry_url: str, unique: str, tmp_path: Path
) -> None:
    subject = f"franz-{unique}-value"
    files = schemas(tmp_path, unique)
    done = run_srcheck(srcheck, registry_url, subject, files)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    python = SchemaRegistryClient({"url": registry_url})
    latest = python.get_latest_version(subject)
    assert (seen["id"], seen["version"], seen["lookup_id"]) == (
        latest.schema_id,
        1,
        latest.schema_id,
    )
    assert subject in seen["subjects"]
    assert seen["versions"] == [1]
    assert json.loads(seen["fetched_schema"]) == json.loads(files[0].read_text())
    assert seen["global_level"] == "BACKWARD_TRANSITIVE"
    assert seen["subject_level"] == "BACKWARD_TRANSITIVE"
    assert python.get_compatibility(subject) == "BACKWARD_TRANSITIVE"
    assert (seen["compatible_self"], seen["compatible_v2"]) == (True, False)
    assert (seen["register_v2_status"], seen["register_v2_error_code"]) == (409, 409)
    assert seen["unknown_id_error_code"] == 40403
    assert python.get_versions(subject) == [1]  # the refused v2 left nothing behind

    # Bytes framed by franz-go's serde, read by confluent_kafka's deserializer via the registry.
    framed = bytes.fromhex(seen["encoded_hex"])
    assert framed[0] == 0
    assert int.from_bytes(framed[1:5], "big") == latest.schema_id
    decoded = AvroDeserializer(python)(framed, SerializationContext("t", MessageField.VALUE))
    assert decoded == {"id": "from-go"}


def test_franz_go_authenticates(
    srcheck: Path, authed_registry: str, unique: str, tmp_path: Path
) -> None:
    files = schemas(tmp_path, unique)
    refused = run_srcheck(srcheck, authed_registry, f"franz-auth-{unique}", files)
    assert refused.returncode == 1
    assert "Unauthorized" in refused.stderr
    done = run_srcheck(srcheck, authed_registry, f"franz-auth-{unique}", files, CREDENTIALS)
    assert done.returncode == 0, done.stderr
