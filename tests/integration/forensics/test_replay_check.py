"""`sagactl replay-check`: histories recorded by a saga class replay through it unchanged, and
a deliberately changed class (its first two steps swapped) fails the check, from files and from
the event store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import sagactl
from sagas.order_fulfilment import OrderFulfilment
from tests.integration.worker import isolated
from tests.integration.worker.conftest import World

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
ORIGINAL = "sagas.order_fulfilment:OrderFulfilment"
CHANGED = f"{__name__}:SwappedOrder"


def _swapped(saga: type[OrderFulfilment]) -> type[OrderFulfilment]:
    """The same saga (name, version) asking for inventory before credit: a change that must
    not be deployed over instances in flight without a version bump."""
    first, second, *rest = saga.steps
    changed = type(
        f"Swapped_{saga.__name__}",
        (saga,),
        {"__module__": __name__, "steps": (second, first, *rest)},
    )
    return changed


SwappedOrder = _swapped(OrderFulfilment)


def replay_check(*args: str, sagas: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        sagactl, ["replay-check", *args], env={**(env or {}), "SAGA_SAGAS": sagas}
    )


def order_histories() -> list[Path]:
    found = sorted(HISTORIES.glob("order_fulfilment_v1_*.jsonl"))
    assert found
    return found


def order_files() -> list[str]:
    return [arg for path in order_histories() for arg in ("--file", str(path))]


def test_recorded_histories_replay_through_the_class_that_recorded_them() -> None:
    result = replay_check(*order_files(), "--output", "json", sagas=ORIGINAL)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert f"{len(order_histories())} histories, 0 diverge" in result.stderr


def test_a_changed_class_fails_the_check_at_the_first_divergence() -> None:
    result = replay_check(*order_files(), "--output", "json", sagas=CHANGED)
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == len(order_histories())
    for row in rows:
        assert row["result"] == "DIVERGES"
        # SagaStarted is recorded with the first command: the command is what differs.
        assert row["position"] == 1
        assert row["recorded"] == row["decided"] == "CommandIssued"
        assert "reserve_credit" in row["detail"]
        assert "reserve_inventory" in row["detail"]


def test_a_file_that_is_not_a_history_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_type": "NoSuchEvent", "data": {}}\n')
    result = replay_check("--file", str(bad), sagas=ORIGINAL)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("sagactl: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(240)
def test_histories_from_the_store(
    world: World, compensated_saga: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = world.child_env()
    monkeypatch.setattr(isolated, "IsolatedOrder", world.saga, raising=False)
    same = replay_check(
        "--saga-type", world.saga.definition.name, "--all", "--output", "json",
        sagas=env["SAGA_SAGAS"], env=env,
    )  # fmt: skip
    assert same.exit_code == 0, same.output
    assert [row["history"] for row in json.loads(same.stdout)] == [compensated_saga]

    monkeypatch.setattr(sys.modules[__name__], "SwappedWorld", _swapped(world.saga), raising=False)
    changed = replay_check(
        "--limit", "10", "--output", "json", sagas=f"{__name__}:SwappedWorld", env=env
    )
    assert changed.exit_code == 1, changed.output
    (row,) = json.loads(changed.stdout)
    assert row["history"] == compensated_saga
    assert row["result"] == "DIVERGES"
    assert row["position"] == 1
