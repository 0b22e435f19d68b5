"""`sagactl schemas` against the built-in registry: check, register, dry run, exit codes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli._schemas import schemas
from orchestrator.codec import PostgresSchemaRegistryClient
from tests.conftest import PgUrls


class Tree:
    """A working tree of one .avsc file that tests edit between commands."""

    def __init__(self, root: Path, unique: str) -> None:
        self.root = root
        self.record = f"saga.test.cli.Parcel{unique}"
        self.topic = f"cli-{unique}"
        self.subject = f"{self.topic}-{self.record}"
        self.schema: dict[str, Any] = {
            "type": "record",
            "name": f"Parcel{unique}",
            "namespace": "saga.test.cli",
            "doc": "A parcel to ship.",
            "fields": [
                {"name": "parcel_id", "type": "string", "doc": "Id."},
                {
                    "name": "size",
                    "type": {"type": "enum", "name": "Size", "symbols": ["S", "M", "L"]},
                    "doc": "Size class.",
                },
            ],
        }
        self.write()

    def write(self) -> None:
        (self.root / "parcel.avsc").write_text(json.dumps(self.schema, indent=2))

    def edit(self, change: str) -> None:
        self.schema = copy.deepcopy(self.schema)
        fields = self.schema["fields"]
        if change == "field added with a default":
            fields.append({"name": "fragile", "type": "boolean", "default": False, "doc": "f"})
        elif change == "type changed":
            fields[0]["type"] = "long"
        elif change == "field added without a default":
            fields.append({"name": "weight", "type": "int", "doc": "w"})
        elif change == "enum symbol removed":
            fields[1]["type"]["symbols"] = ["S", "M"]
        else:
            raise AssertionError(change)
        self.write()


@pytest.fixture
def tree(tmp_path: Path, unique: str) -> Tree:
    return Tree(tmp_path, unique)


@pytest.fixture
def sagactl(registry_db: PgUrls, tree: Tree) -> Any:
    runner = CliRunner(env={"SAGA_DATABASE_URL": registry_db.app, "SAGA_SCHEMA_REGISTRY_URL": ""})

    def run(*args: str) -> Result:
        return runner.invoke(schemas, ["--schemas-dir", str(tree.root), *args])

    return run


def versions(registry_db: PgUrls, subject: str) -> list[int]:
    client = PostgresSchemaRegistryClient(registry_db.app)
    try:
        if subject not in client.get_subjects(subject_prefix=subject):
            return []
        return client.get_versions(subject)
    finally:
        client.close()


def test_register_then_evolve_compatibly(sagactl: Any, tree: Tree, registry_db: PgUrls) -> None:
    bind = f"{tree.topic}={tree.record}"
    dry = sagactl("register", "--bind", bind, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would be registered" in dry.stderr
    assert versions(registry_db, tree.subject) == []

    first = sagactl("register", "--bind", bind, "--output", "json")
    assert first.exit_code == 0, first.output
    (done,) = json.loads(first.stdout)["registered"]
    assert (done["subject"], done["version"]) == (tree.subject, 1)

    unchanged = sagactl("check", "--output", "json")
    assert unchanged.exit_code == 0, unchanged.output
    assert [row["status"] for row in json.loads(unchanged.stdout)] == ["registered"]

    tree.edit("field added with a default")
    check = sagactl("check")
    assert check.exit_code == 0, check.output
    assert "compatible" in check.stdout
    assert sagactl("register").exit_code == 0
    assert versions(registry_db, tree.subject) == [1, 2]


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ("type changed", "type_mismatch"),
        ("field added without a default", "reader_field_missing_default_value"),
        ("enum symbol removed", "missing_enum_symbols"),
    ],
)
def test_incompatible_changes_exit_1_and_register_nothing(
    sagactl: Any, tree: Tree, registry_db: PgUrls, change: str, kind: str
) -> None:
    assert sagactl("register", "--bind", f"{tree.topic}={tree.record}").exit_code == 0
    tree.edit(change)

    check = sagactl("check", "--output", "json")
    assert check.exit_code == 1, check.output
    (row,) = json.loads(check.stdout)
    assert row["status"] == "incompatible"
    assert row["incompatibilities"][0]["kinds"] == [kind]
    assert f"INCOMPATIBLE {tree.subject} v1 (backward): {kind}" in check.stderr

    refused = sagactl("register")
    assert refused.exit_code == 1
    assert "nothing registered" in refused.stderr
    assert versions(registry_db, tree.subject) == [1]


def test_bad_usage_exits_2(sagactl: Any) -> None:
    assert sagactl("check", "--bind", "no-equals-sign").exit_code == 2
    assert sagactl("check", "--bind", "topic=saga.test.cli.NoSuchRecord").exit_code == 2


def test_an_unreachable_registry_exits_3(tree: Tree) -> None:
    runner = CliRunner(
        env={
            "SAGA_DATABASE_URL": "postgresql://saga:saga@127.0.0.1:1/saga",
            "SAGA_SCHEMA_REGISTRY_URL": "",
        }
    )
    result = runner.invoke(schemas, ["--schemas-dir", str(tree.root), "check"])
    assert result.exit_code == 3, result.output
    assert "unreachable" in result.stderr

    http = CliRunner(env={"SAGA_SCHEMA_REGISTRY_URL": "http://127.0.0.1:1"})
    result = http.invoke(schemas, ["--schemas-dir", str(tree.root), "list"])
    assert result.exit_code == 3, result.output
