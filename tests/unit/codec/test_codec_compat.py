"""Evolution rules: which changes a subject accepts under each compatibility level."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from orchestrator.codec import CompatibilityLevel, check_compatibility

V1: dict[str, Any] = {
    "type": "record",
    "name": "Shipment",
    "namespace": "saga.test.compat",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "carrier", "type": {"type": "enum", "name": "Carrier", "symbols": ["DHL", "UPS"]}},
        {"name": "weight_grams", "type": "int"},
    ],
}


def evolve(change: str) -> str:
    schema = copy.deepcopy(V1)
    fields = schema["fields"]
    if change == "field added with a default":
        fields.append({"name": "insured", "type": "boolean", "default": False})
    elif change == "int widened to long":
        fields[2]["type"] = "long"
    elif change == "type changed":
        fields[0]["type"] = "long"
    elif change == "field added without a default":
        fields.append({"name": "insured", "type": "boolean"})
    elif change == "enum symbol removed":
        fields[1]["type"]["symbols"] = ["DHL"]
    else:
        raise AssertionError(change)
    return json.dumps(schema)


HISTORY = [(1, json.dumps(V1))]
BT = CompatibilityLevel.BACKWARD_TRANSITIVE


@pytest.mark.parametrize("change", ["field added with a default", "int widened to long"])
def test_compatible_changes_pass_backward_transitive(change: str) -> None:
    assert check_compatibility(evolve(change), HISTORY, BT) == []


@pytest.mark.parametrize(
    ("change", "kind", "where"),
    [
        ("type changed", "type_mismatch", "/fields/0/type"),
        ("field added without a default", "reader_field_missing_default_value", "/fields/3"),
        ("enum symbol removed", "missing_enum_symbols", "/fields/1/type/symbols"),
    ],
)
def test_incompatible_changes_are_listed(change: str, kind: str, where: str) -> None:
    (problem,) = check_compatibility(evolve(change), HISTORY, BT)
    assert (problem.version, problem.direction, problem.kinds) == (1, "backward", (kind,))
    assert where in problem.locations
    assert kind in problem.describe()


def test_transitive_levels_check_every_version_not_just_the_latest() -> None:
    v2 = copy.deepcopy(V1)
    v2["fields"].append({"name": "insured", "type": "boolean", "default": False})
    v3 = copy.deepcopy(v2)
    v3["fields"][3] = {"name": "insured", "type": "boolean"}  # v2 wrote it; v1 did not
    history = [(1, json.dumps(V1)), (2, json.dumps(v2))]
    assert check_compatibility(json.dumps(v3), history, CompatibilityLevel.BACKWARD) == []
    problems = check_compatibility(json.dumps(v3), history, CompatibilityLevel.BACKWARD_TRANSITIVE)
    assert [p.version for p in problems] == [1]


def test_forward_and_full_check_the_other_direction() -> None:
    # Removing a field without a default: new readers are fine, old readers miss the field.
    schema = copy.deepcopy(V1)
    del schema["fields"][2]
    candidate = json.dumps(schema)
    assert check_compatibility(candidate, HISTORY, CompatibilityLevel.BACKWARD) == []
    (forward,) = check_compatibility(candidate, HISTORY, CompatibilityLevel.FORWARD)
    assert forward.direction == "forward"
    full = check_compatibility(candidate, HISTORY, CompatibilityLevel.FULL)
    assert [p.direction for p in full] == ["forward"]


def test_none_accepts_anything_and_a_first_version_is_always_accepted() -> None:
    assert check_compatibility(evolve("type changed"), HISTORY, CompatibilityLevel.NONE) == []
    assert check_compatibility(evolve("type changed"), [], CompatibilityLevel.FULL_TRANSITIVE) == []
