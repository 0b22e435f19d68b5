"""How instants are written into events and timer messages."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_instant(moment: datetime) -> str:
    """UTC, millisecond precision: round-trips exactly through ``datetime.fromisoformat``.

    Part of the stored format (fire_at, received.at): changing it would make the replay check
    report every recorded history as divergent.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
