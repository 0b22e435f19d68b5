"""README's SRE guide, run as written: every `$ sagactl ...` line between its walkthrough
markers is parsed out of README.md and executed, in order, against orders run by the real
worker and the demo's simulated services (a database and topics of this test's own); each must
exit 0 and print what its `# ->` comment says. So the guide cannot drift from the commands."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import sagactl
from sagas.order_services import Behaviour
from tests.integration.cli.walk import REPO
from tests.integration.worker import isolated
from tests.integration.worker.conftest import World

ORDERS = 3
_START, _END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
_COMMAND = re.compile(r"^\s*\$ (sagactl .+?)\s+# -> (.+)$")


@dataclass(frozen=True)
class Step:
    argv: list[str]  # after `sagactl`, variables still as $NAME
    out: str | None  # `> FILE`: stdout goes there
    says: str


def guide_steps() -> list[Step]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.count(_START) == 1, "README has one SRE walkthrough"
    block = text.split(_START, 1)[1].split(_END, 1)[0]
    steps = []
    for line in block.splitlines():
        if line.strip().startswith("$ "):
            match = _COMMAND.match(line)
            assert match is not None, f"a guide command without its '# ->' expectation: {line}"
            words = shlex.split(match.group(1))
            out = None
            if ">" in words:
                at = words.index(">")
                words, out = words[:at], words[at + 1]
            steps.append(Step(words[1:], out, match.group(2).strip()))
    return steps


def test_the_guide_is_there_and_covers_the_walk() -> None:
    commands = [" ".join(step.argv[:2]) for step in guide_steps()]
    for wanted in (
        "saga list",
        "saga show",
        "saga state",
        "saga diff",
        "db verify",
        "export --saga",
        "verify --file",
        "audit",
    ):
        assert wanted in commands, (wanted, commands)
    assert any("html" in step.argv for step in guide_steps())


def _squeezed(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text)


def _saga_of(listing: Result) -> str:
    rows = listing.stdout.splitlines()
    assert rows[0].split()[0] == "saga_id", listing.stdout
    return rows[1].split()[0]


def _failed_version(timeline: Result) -> int:
    for row in timeline.stdout.splitlines()[1:]:
        cells = row.split()
        if cells[3] == "StepFailed":
            return int(cells[0])
    raise AssertionError(f"no StepFailed in the timeline:\n{timeline.stdout}")


@pytest.mark.timeout(600)
def test_the_sre_guide_runs_as_written(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The demo's worker and services; shipping says no, so every order is compensated.
    world.start_worker()
    world.start_participants(shipping=Behaviour(failure_rate=1.0))
    saga_ids = world.start_orders(ORDERS)
    assert set(world.wait_for(saga_ids).values()) == {"compensated"}

    monkeypatch.setattr(isolated, "IsolatedOrder", world.saga, raising=False)
    monkeypatch.chdir(tmp_path)
    env = world.child_env()
    runner = CliRunner()
    variables: dict[str, str] = {}
    for step in guide_steps():
        argv = [
            variables.get(word[1:], word) if word.startswith("$") else word for word in step.argv
        ]
        assert not [word for word in argv if word.startswith("$")], (argv, variables)
        result = runner.invoke(sagactl, argv, env=env)
        shown = f"sagactl {' '.join(argv)}: exit {result.exit_code}\n{result.output}"
        assert result.exit_code == 0, (shown, result.exception)
        assert _squeezed(step.says) in _squeezed(result.stdout + result.stderr), shown
        if step.out is not None:
            Path(step.out).write_bytes(result.stdout_bytes)
        if argv[:2] == ["saga", "list"]:
            variables["SAGA"] = _saga_of(result)
            assert variables["SAGA"] in saga_ids
        elif argv[:2] == ["saga", "show"] and len(argv) == 3:
            failed = _failed_version(result)
            variables.update(BEFORE=str(failed - 1), AFTER=str(failed))
    page = (tmp_path / "saga.html").read_text(encoding="utf-8")
    assert variables["SAGA"] in page
    assert "<script" not in page
    export = [json.loads(line) for line in (tmp_path / "saga.jsonl").read_text().splitlines()]
    assert {line["stream_id"] for line in export if line["kind"] == "event"} == {variables["SAGA"]}
