"""Every mermaid diagram in the docs is one mermaid itself can parse (a diagram that does not
render is a page of punctuation on GitHub). Checked with mermaid's own parser, in the headless
chromium of the forensics tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.forensics import browser

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def diagrams() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for index, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append((f"{path.relative_to(REPO)}#{index + 1}", match[1]))
    return found


def test_the_architecture_page_has_its_diagrams() -> None:
    names = [name for name, _ in diagrams()]
    assert [n for n in names if n.startswith("docs/architecture.md#")] == [
        "docs/architecture.md#1",
        "docs/architecture.md#2",
    ]


@pytest.mark.parametrize(("name", "diagram"), diagrams(), ids=[name for name, _ in diagrams()])
def test_the_diagram_parses(name: str, diagram: str, tmp_path: Path) -> None:
    assert browser.mermaid_parse(diagram, tmp_path) == "ok", name
