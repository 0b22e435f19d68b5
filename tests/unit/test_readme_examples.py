"""The README's saga-author and participant examples run as written, so the documentation
cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python block after {heading!r}"
    return match.group(1)


@pytest.mark.parametrize(
    "heading", ["## Writing a saga", "### Unit-testing a saga", "## Participant services"]
)
def test_the_readme_example_runs(heading: str) -> None:
    code = python_block_after(heading)
    # Running the README's own code is the point of this test.
    exec(compile(code, f"README.md: {heading}", "exec"), {"__name__": "readme_example"})  # noqa: S102
