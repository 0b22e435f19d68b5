"""CI runs what README tells a newcomer to run, in the same order, on its fresh stack."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_first_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert match is not None, "README has no sh block"
    return [line.split("#")[0].strip() for line in match.group(1).splitlines() if line.strip()]


def ci_make_commands() -> list[str]:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = []
    for line in script.splitlines():
        found = re.match(r"^(?:phase \w+ )?(make \w+)", line.strip())
        if found:
            commands.append(found.group(1))
    return commands


def test_ci_runs_readmes_first_commands_in_readmes_order() -> None:
    readme = readme_first_commands()
    assert readme == ["make demo", "make test"]
    ci = ci_make_commands()
    # README's commands, in README's order, and nothing that starts the stack before them:
    # `make demo` must be the first to meet the broker CI's `make up` starts for the first time.
    assert [command for command in ci if command in readme] == readme, ci
    assert "make up" not in ci[: ci.index("make demo")], ci
