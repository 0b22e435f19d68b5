"""The author's API is checked by mypy: tests/typing must pass mypy --strict, whose
warn_unused_ignores makes every pinned wrong usage there stay an error."""

from __future__ import annotations

from pathlib import Path

from mypy import api

REPO = Path(__file__).resolve().parents[3]


def test_the_typing_tests_pass_mypy_strict() -> None:
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--config-file",
            str(REPO / "pyproject.toml"),
            str(REPO / "tests" / "typing"),
        ]
    )
    assert status == 0, stdout + stderr
