"""sagactl's progress line: the estimate, and what a pipe and a terminal are shown."""

from __future__ import annotations

import io

from orchestrator.cli._progress import Progress, clock_text, estimate


def test_the_estimate_scales_the_elapsed_time_by_what_is_left() -> None:
    assert estimate(0.25, 10.0) == 30.0
    assert estimate(1.0, 10.0) == 0.0
    assert estimate(0.0, 10.0) is None  # nothing done yet: no guess
    assert clock_text(None) == "--:--"
    assert clock_text(75.4) == "01:15"
    assert clock_text(3 * 3600 + 61) == "3:01:01"


def test_a_pipe_gets_a_plain_line_per_tenth_crossed() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, what="rebuild", unit="events", tty=False, clock=lambda: now[0])
    for step in range(1, 21):  # twenty pages of 50 events, one second each
        now[0] = float(step)
        progress(step * 50, step * 50, 1000)
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "rebuild: 10% (100 events, 50/s, about 00:18 left)"
    assert lines[-1] == "rebuild: 100% (1,000 events, 50/s, about 00:00 left)"


def test_a_terminal_gets_one_line_redrawn_at_most_ten_times_a_second() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, what="rebuild", unit="events", tty=True, clock=lambda: now[0])
    for step in range(1, 101):  # a page every 10 ms
        now[0] = step / 100
        progress(step * 10, step * 10, 1000)
    progress.close()
    text = out.getvalue()
    assert 10 <= text.count("\r\x1b[K") <= 11  # throttled, and the end always drawn
    assert text.endswith("rebuild [####################] 100%  1,000 events  1,000/s  ETA 00:00\n")
