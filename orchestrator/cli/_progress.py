"""Progress of a long sagactl run on stderr, with an estimate of the time left.

On a terminal, one line redrawn in place (a bar, the share done, the rate, the time left); in
a pipe or a log, a plain line at each tenth done, so a CI log shows the run is alive without
carriage returns or escape codes. No dependency: a bar is twenty characters of text, and the
estimate is the elapsed time scaled by what is left. `--jobs`, the option of the long
whole-store scans, is here too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final, TextIO

import click

_BAR_WIDTH: Final = 20
# A terminal redraw at most this often: drawing costs more than a page of events.
_REDRAW_S: Final = 0.1
_ERASE_LINE: Final = "\r\x1b[K"


def estimate(fraction: float, elapsed_s: float) -> float | None:
    """Seconds left if the rest goes as fast as the part done (None before anything is)."""
    if fraction <= 0.0 or elapsed_s <= 0.0:
        return None
    return max(0.0, elapsed_s * (1.0 - fraction) / fraction)


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Called with (items done, position reached, last position); `close()` ends the line."""

    def __init__(
        self,
        stream: TextIO,
        *,
        what: str,
        unit: str,
        tty: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._what = what
        self._unit = unit
        self._tty = tty
        self._clock = clock
        self._started = clock()
        self._last_drawn = float("-inf")
        self._tenths_said = 0
        self._drawn = False

    def __call__(self, done: int, position: int, last_position: int) -> None:
        fraction = 1.0 if last_position <= 0 else min(1.0, position / last_position)
        now = self._clock()
        elapsed = now - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = estimate(fraction, elapsed)
        if self._tty:
            if now - self._last_drawn < _REDRAW_S and fraction < 1.0:
                return
            self._last_drawn = now
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            self._stream.write(
                f"{_ERASE_LINE}{self._what} [{bar}] {fraction:4.0%}  {done:,} {self._unit}"
                f"  {rate:,.0f}/s  ETA {clock_text(left)}"
            )
            self._stream.flush()
            self._drawn = True
            return
        tenths = int(fraction * 10)
        if tenths > self._tenths_said:
            self._tenths_said = tenths
            self._stream.write(
                f"{self._what}: {fraction:.0%} ({done:,} {self._unit}, {rate:,.0f}/s, "
                f"about {clock_text(left)} left)\n"
            )
            self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


# Whole-store scans (`verify`, `db verify`, `audit`) split over processes, one core each.
jobs_option = click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=os.cpu_count() or 1,
    show_default="the number of cores",
    help="Processes that scan the store, each a slice of the sagas, in one snapshot "
    "(stores under 50,000 events are scanned by one).",
)
