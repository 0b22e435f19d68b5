"""The parameter types `saga list` and `saga stuck` add: durations and page cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from orchestrator.cli._types import Cursor, Duration, PageCursor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert Duration().convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["10", "10w", "0s", "-5m", "1.5h", "99999999d", "10 m", ""])
def test_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a duration"):
        Duration().convert(text, None, None)


def test_a_cursor_reads_back_what_it_prints() -> None:
    moment = datetime(2026, 12, 1, 20, 51, 3, 123456, tzinfo=UTC)
    for cursor in (PageCursor("s-1"), PageCursor("s-1", moment)):
        assert Cursor().convert(str(cursor), None, None) == cursor


@pytest.mark.parametrize("text", ["bad!id", "2026-01-01T00:00:00,s-1", ",s-1", "x,s-1", ""])
def test_what_is_not_a_cursor(text: str) -> None:
    with pytest.raises(click.BadParameter, match="not a cursor"):
        Cursor().convert(text, None, None)
