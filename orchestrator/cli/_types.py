"""Parameter types of sagactl: a value that cannot be right is refused while the command line
is parsed, by click's one-line usage error and exit status 2, before any server is contacted.

Each type names what it accepts in its error, so the operator can correct the line without
reading the code.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import click

from event_store import STREAM_ID_PATTERN
from orchestrator.saga import SagaStatus

# What `saga list --status` can match: the saga statuses, and `parked` (a saga waiting on a
# dead letter is listed as parked whatever its status; see SagaInstance.lifecycle).
SAGA_LIST_STATUSES: Final = (*(status.value for status in SagaStatus), "parked")

# Kafka's own rule for topic names (kafka.common.internals.Topic): at most 249 characters from
# this set, and neither "." nor "..".
_TOPIC_PATTERN: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PATTERN: Final = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
# PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes: a longer role name would name
# another role than the one typed.
_MAX_ROLE_BYTES: Final = 63
# `30s`, `10m`, `2h`, `1d`: a whole number and one unit, as Prometheus and kubectl write them.
_DURATION_PATTERN: Final = re.compile(r"([0-9]{1,9})([smhd])")
_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Beyond this a duration means nothing to a saga (and timedelta overflows soon after).
_MAX_DURATION: Final = timedelta(days=36_500)


class StreamId(click.ParamType[str]):
    """A saga id (an event-store stream id)."""

    name = "id"

    def __init__(self, noun: str) -> None:
        self.noun = noun

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str) and STREAM_ID_PATTERN.fullmatch(value):
            return value
        self.fail(
            f"{value!r} is not a {self.noun} (1-200 characters from A-Z a-z 0-9 . _ : @ -, "
            "starting with a letter or digit)",
            param,
            ctx,
        )


class Instant(click.ParamType[datetime]):
    """An ISO-8601 instant WITH its UTC offset (``2026-12-01T20:51:03.123456+00:00`` or ``...Z``),
    as sagactl prints them: without an offset it would mean a different instant on every host."""

    name = "instant"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 instant", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no UTC offset (add +00:00 or Z)", param, ctx)
        return parsed


class HostAddress(click.ParamType[str]):
    """An address to listen on: an IPv4/IPv6 literal or a host name (RFC 1123 labels)."""

    name = "host"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            if not _HOST_PATTERN.fullmatch(text):
                self.fail(f"{text!r} is not an IP address or a host name", param, ctx)
        return text


class Credentials(click.ParamType[str]):
    """USER:PASSWORD. The value is a secret: an error says what is wrong, never what was typed."""

    name = "user:password"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        user, colon, password = str(value).partition(":")
        if not (user and colon and password) or "\n" in str(value):
            self.fail("must be USER:PASSWORD, both non-empty, on one line", param, ctx)
        return str(value)


class Duration(click.ParamType[timedelta]):
    """A positive duration: a whole number and a unit, ``30s``, ``10m``, ``2h`` or ``1d``."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = _DURATION_PATTERN.fullmatch(str(value))
        if match is not None:
            amount = timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])
            if timedelta(0) < amount <= _MAX_DURATION:
                return amount
        self.fail(
            f"{value!r} is not a duration (a whole number > 0 and a unit s, m, h or d: "
            "30s, 10m, 2h, 1d; at most 36500d)",
            param,
            ctx,
        )


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a page of `saga list` ended: the last row's saga id, and its last update when the
    listing is ordered by it (without --at)."""

    stream_id: str
    updated_at: datetime | None = None

    def __str__(self) -> str:
        if self.updated_at is None:
            return self.stream_id
        return f"{self.updated_at.isoformat()},{self.stream_id}"


class Cursor(click.ParamType[PageCursor]):
    """What `saga list` printed after `--after`: ``SAGA_ID`` or ``INSTANT,SAGA_ID``."""

    name = "cursor"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> PageCursor:
        if isinstance(value, PageCursor):
            return value
        text = str(value)
        instant_text, comma, stream_id = text.rpartition(",")
        if STREAM_ID_PATTERN.fullmatch(stream_id):
            if not comma:
                return PageCursor(stream_id)
            try:
                updated_at = datetime.fromisoformat(instant_text)
            except ValueError:
                updated_at = None
            if updated_at is not None and updated_at.tzinfo is not None:
                return PageCursor(stream_id, updated_at)
        self.fail(
            f"{value!r} is not a cursor of `saga list` (pass on the value it printed after "
            "--after)",
            param,
            ctx,
        )


class TopicName(click.ParamType[str]):
    name = "topic"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str) and _TOPIC_PATTERN.fullmatch(value) and value not in {".", ".."}:
            return value
        self.fail(
            f"{value!r} is not a Kafka topic name (1-249 characters from A-Z a-z 0-9 . _ -)",
            param,
            ctx,
        )


class Text(click.ParamType[str]):
    """Free text that is recorded (who acted, why, which step): it must say something."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str) and value.strip() and value.isprintable():
            return value
        self.fail(f"{value!r} is empty or holds control characters", param, ctx)


class RoleName(click.ParamType[str]):
    name = "role"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if (
            isinstance(value, str)
            and value
            and value.isprintable()
            and len(value.encode()) <= _MAX_ROLE_BYTES
        ):
            return value
        self.fail(
            f"{value!r} is not a PostgreSQL role name (1-{_MAX_ROLE_BYTES} bytes, printable)",
            param,
            ctx,
        )


class Binding(click.ParamType[tuple[str, str]]):
    """TOPIC=RECORD; whether RECORD is one of the .avsc records is checked once they are read."""

    name = "TOPIC=RECORD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value  # click converts a default again
        topic, sep, record = str(value).partition("=")
        if sep and record and _TOPIC_PATTERN.fullmatch(topic) and topic not in {".", ".."}:
            return topic, record
        self.fail(f"{value!r}: expected TOPIC=RECORD with TOPIC a Kafka topic name", param, ctx)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange lets "nan" through (every comparison with NaN is false) and "inf"
    through an open upper end; neither is a rate, nor a number of seconds."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number: float = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
